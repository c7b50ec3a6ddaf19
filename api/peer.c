/* peer.c — how a TCP peer is named: "IP:port" in logs and the audit log,
 * and the address key the authentication failure limiter counts by. */
#include "api/limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t api_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct peer {
        char ip[INET6_ADDRSTRLEN];
        unsigned port;
        bool v6;                  /* a real IPv6 address (not IPv4-mapped) */
        struct in6_addr a6;       /* when v6 */
} peer;

/* The address as text (an IPv4-mapped IPv6 address as IPv4) and the port. */
static bool peer_of(const struct sockaddr *sa, peer *p)
{
        memset(p, 0, sizeof(*p));
        if (!sa)
                return false;
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
                p->port = ntohs(s4->sin_port);
                return inet_ntop(AF_INET, &s4->sin_addr, p->ip, sizeof(p->ip)) != NULL;
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
                p->port = ntohs(s6->sin6_port);
                p->a6 = s6->sin6_addr;
                if (IN6_IS_ADDR_V4MAPPED(&p->a6))
                        return inet_ntop(AF_INET, &p->a6.s6_addr[12], p->ip, sizeof(p->ip)) != NULL;
                p->v6 = true;
                return inet_ntop(AF_INET6, &p->a6, p->ip, sizeof(p->ip)) != NULL;
        }
        return false;
}

bool api_peer_format(const struct sockaddr *sa, char *buf, size_t len)
{
        peer p;

        if (!peer_of(sa, &p))
                return false;
        snprintf(buf, len, p.v6 ? "[%s]:%u" : "%s:%u", p.ip, p.port);
        return true;
}

bool api_peer_key(const struct sockaddr *sa, char key[API_ADDR_KEY_MAX])
{
        peer p;

        if (!peer_of(sa, &p))
                return false;
        if (p.v6) {
                memset(&p.a6.s6_addr[8], 0, 8);
                if (!inet_ntop(AF_INET6, &p.a6, p.ip, sizeof(p.ip)))
                        return false;
                snprintf(key, API_ADDR_KEY_MAX, "%s/64", p.ip);
        } else {
                snprintf(key, API_ADDR_KEY_MAX, "%s", p.ip);
        }
        return true;
}

/* test-api-limits.c — the API's abuse limits with a clock the test drives:
 * the authentication failure limiter (token bucket per address, bounded
 * table), how peers are keyed (IPv6 by /64), and the deadlines that cut
 * connections too slow to send their request. */
#include "api/limits.h"
#include "tests/testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIN_MS 60000ull

static void test_bucket(void)
{
        api_ratelimit *rl = api_ratelimit_new(5, 64);
        uint64_t t = 1000000;
        unsigned wait;
        bool ok = true;

        for (int i = 0; i < 5; i++) {
                ok &= api_ratelimit_check(rl, "192.0.2.7", t) == 0;
                api_ratelimit_failed(rl, "192.0.2.7", t);
        }
        CHECK(ok, "an address may fail 5 times (the configured burst) before it is held back");
        wait = api_ratelimit_check(rl, "192.0.2.7", t);
        CHECK(wait == 12, "the 6th try in the same minute is refused, retry after 60/5 = 12 s");
        CHECK(api_ratelimit_check(rl, "192.0.2.8", t) == 0, "another address is not held back");
        CHECK(api_ratelimit_check(rl, "192.0.2.7", t + 6000) == 6, "Retry-After counts down with the clock");
        CHECK(api_ratelimit_check(rl, "192.0.2.7", t + 12000) == 0, "after 12 s one more try is allowed");
        api_ratelimit_failed(rl, "192.0.2.7", t + 12000);
        CHECK(api_ratelimit_check(rl, "192.0.2.7", t + 12000) == 12, "and failing it holds the address back again");
        CHECK(api_ratelimit_check(rl, "192.0.2.7", t + 12000 + MIN_MS) == 0, "a quiet minute refills the bucket");
        ok = true;
        for (int i = 0; i < 5; i++) {
                ok &= api_ratelimit_check(rl, "192.0.2.7", t + 12000 + MIN_MS) == 0;
                api_ratelimit_failed(rl, "192.0.2.7", t + 12000 + MIN_MS);
        }
        CHECK(ok && api_ratelimit_check(rl, "192.0.2.7", t + 12000 + MIN_MS) > 0,
              "a refilled bucket holds 5 tries again, never more");
        api_ratelimit_free(rl);
}

/* An attacker who was held back cannot get its record evicted by failing
 * once from many other addresses: the fullest buckets go first. */
static void test_bounded(void)
{
        api_ratelimit *rl = api_ratelimit_new(3, 16);
        uint64_t t = 5000;
        char addr[32];
        int limited_others = 0;

        for (int i = 0; i < 3; i++)
                api_ratelimit_failed(rl, "198.51.100.1", t);
        for (int i = 0; i < 5000; i++) {
                snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
                api_ratelimit_failed(rl, addr, t);
        }
        CHECK(api_ratelimit_check(rl, "198.51.100.1", t) > 0,
              "a held-back address stays held back while 5000 others fail once (table of 16)");
        for (int i = 0; i < 5000; i++) {
                snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
                limited_others += api_ratelimit_check(rl, addr, t) > 0;
        }
        CHECK(limited_others == 0, "addresses that failed once are not held back");
        api_ratelimit_free(rl);
}

static void test_peer(void)
{
        struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(51234)};
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
        struct sockaddr_in6 other = s6;
        struct sockaddr_in6 mapped = {.sin6_family = AF_INET6, .sin6_port = htons(8)};
        char buf[64], key[API_ADDR_KEY_MAX], key2[API_ADDR_KEY_MAX];

        inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
        inet_pton(AF_INET6, "2001:db8:1:2:aaaa::1", &s6.sin6_addr);
        inet_pton(AF_INET6, "2001:db8:1:2:bbbb::9", &other.sin6_addr);
        inet_pton(AF_INET6, "::ffff:192.0.2.9", &mapped.sin6_addr);
        CHECK(api_peer_format((struct sockaddr *)&s4, buf, sizeof(buf)) && strcmp(buf, "192.0.2.7:51234") == 0,
              "an IPv4 peer is named IP:port");
        CHECK(api_peer_format((struct sockaddr *)&s6, buf, sizeof(buf)) &&
                      strcmp(buf, "[2001:db8:1:2:aaaa::1]:443") == 0,
              "an IPv6 peer is named [IP]:port");
        CHECK(api_peer_format((struct sockaddr *)&mapped, buf, sizeof(buf)) && strcmp(buf, "192.0.2.9:8") == 0,
              "an IPv4 client of a [::] listener is named by its IPv4 address");
        CHECK(api_peer_key((struct sockaddr *)&s4, key) && strcmp(key, "192.0.2.7") == 0,
              "the limiter counts an IPv4 peer by its address, whatever its port");
        CHECK(api_peer_key((struct sockaddr *)&s6, key) && api_peer_key((struct sockaddr *)&other, key2) &&
                      strcmp(key, "2001:db8:1:2::/64") == 0 && strcmp(key, key2) == 0,
              "the limiter counts IPv6 peers by /64: a host cannot dodge it by changing its low bits");
        CHECK(!api_peer_format(NULL, buf, sizeof(buf)), "no address (unix socket) is not a TCP peer");
}

/* Whether the other end of a socket pair sees its peer gone within 1 s. */
static bool cut(int fd)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char c;

        return poll(&p, 1, 1000) == 1 && read(fd, &c, 1) == 0;
}

static bool open_still(int fd)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};

        return poll(&p, 1, 0) == 0;
}

static void test_deadlines(void)
{
        api_deadlines *d = api_deadlines_new(10, 60);
        int slow[2], fast[2], idle[2];
        api_conn_deadline *cs, *cf, *ci;
        uint64_t t = 100000;

        if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, slow) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, fast) == 0 &&
                           socketpair(AF_UNIX, SOCK_STREAM, 0, idle) == 0,
                   "socket pairs for the test"))
                return;
        cs = api_deadlines_open(d, slow[0], t);
        cf = api_deadlines_open(d, fast[0], t);
        ci = api_deadlines_open(d, idle[0], t);
        api_deadlines_headers(d, cf);
        CHECK(api_deadlines_sweep(d, t + 9999) == 0 && open_still(slow[1]),
              "a connection still sending headers after 9.9 s is left alone");
        CHECK(api_deadlines_sweep(d, t + 10000) == 2 && cut(slow[1]) && cut(idle[1]),
              "connections without complete headers 10 s after connecting are cut (TLS handshake included)");
        CHECK(open_still(fast[1]), "a connection whose headers came in time may take longer over its body");
        CHECK(api_deadlines_sweep(d, t + 20000) == 0, "a cut connection is not cut twice");
        CHECK(api_deadlines_sweep(d, t + 60000) == 1 && cut(fast[1]),
              "a body still not complete 60 s after connecting is cut (slow body drip)");
        api_deadlines_close(d, cs);
        api_deadlines_close(d, ci);
        api_deadlines_close(d, cf);
        for (int i = 0; i < 2; i++) {
                close(slow[i]);
                close(fast[i]);
                close(idle[i]);
        }

        /* A kept-alive connection gets the same time again after each response. */
        if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fast) == 0, "socket pair for the test"))
                return;
        cf = api_deadlines_open(d, fast[0], t);
        api_deadlines_received(d, cf);
        CHECK(api_deadlines_sweep(d, t + 100000) == 0 && open_still(fast[1]),
              "a connection whose request is in is not cut while its response is made");
        api_deadlines_rearm(d, cf, t + 100000);
        CHECK(api_deadlines_sweep(d, t + 105000) == 0 && open_still(fast[1]),
              "after a response the next request has its own 10 s");
        CHECK(api_deadlines_sweep(d, t + 110000) == 1 && cut(fast[1]),
              "a kept-alive connection idle for 10 s after its response is cut");
        CHECK(api_deadlines_cut(d) == 4, "the deadlines count the connections they cut");
        api_deadlines_close(d, cf);
        close(fast[0]);
        close(fast[1]);
        api_deadlines_free(d);

        d = api_deadlines_new(1, 2);
        CHECK(api_deadlines_start(d) == 0, "the sweeping thread starts");
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, slow) == 0) {
                struct pollfd p = {.fd = slow[1], .events = POLLIN};
                char c;
                cs = api_deadlines_open(d, slow[0], api_now_ms());
                CHECK(poll(&p, 1, 3000) == 1 && read(slow[1], &c, 1) == 0,
                      "the thread cuts a stalled connection on its own, about 1 s after it opened");
                api_deadlines_close(d, cs);
                close(slow[0]);
                close(slow[1]);
        }
        api_deadlines_free(d);
}

int main(void)
{
        test_bucket();
        test_bounded();
        test_peer();
        test_deadlines();
        return tl_done();
}

/* collect.c — the machine figures a heartbeat carries: uptime, load,
 * memory (from a /proc tree) and the guest's usable IP addresses.
 *
 * The /proc root is a parameter so tests read fixture trees. A figure that
 * cannot be read is reported as unknown (null), never guessed. */
#include "agent/agent.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ssize_t read_proc(const char *proc, const char *name, char *buf, size_t size)
{
        char path[PATH_MAX];

        if ((size_t)snprintf(path, sizeof(path), "%s/%s", proc, name) >= sizeof(path))
                return -1;
        return ag_read_file(path, buf, size);
}

int ag_read_uptime(const char *proc, long long *out)
{
        char buf[256], *end;
        double up;

        if (read_proc(proc, "uptime", buf, sizeof(buf)) < 0)
                return -1;
        up = strtod(buf, &end);
        if (end == buf || !(up >= 0 && up < 1e12))
                return -1;
        *out = (long long)up;
        return 0;
}

int ag_read_loadavg(const char *proc, double load[3])
{
        char buf[256];

        if (read_proc(proc, "loadavg", buf, sizeof(buf)) < 0)
                return -1;
        if (sscanf(buf, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
                return -1;
        for (int i = 0; i < 3; i++)
                if (!(load[i] >= 0 && load[i] < 1e9))
                        return -1;
        return 0;
}

int ag_read_meminfo(const char *proc, long long *total_kib, long long *avail_kib)
{
        char buf[16384];
        long long total = -1, avail = -1;

        if (read_proc(proc, "meminfo", buf, sizeof(buf)) < 0)
                return -1;
        for (char *line = buf, *nl; line; line = nl ? nl + 1 : NULL) {
                long long v;

                nl = strchr(line, '\n');
                if (sscanf(line, "MemTotal: %lld kB", &v) == 1)
                        total = v;
                else if (sscanf(line, "MemAvailable: %lld kB", &v) == 1)
                        avail = v;
        }
        if (total < 0 || avail < 0)
                return -1;
        *total_kib = total;
        *avail_kib = avail;
        return 0;
}

static int prefix_len(const unsigned char *mask, size_t n)
{
        int bits = 0;

        for (size_t i = 0; i < n; i++)
                bits += __builtin_popcount(mask[i]);
        return bits;
}

int ag_collect_addrs(const struct ifaddrs *list, ag_addr *out, int max)
{
        int n = 0;

        for (const struct ifaddrs *ifa = list; ifa && n < max; ifa = ifa->ifa_next) {
                ag_addr *a = &out[n];
                const void *addr;
                int family;

                if (!ifa->ifa_addr || !ifa->ifa_name || (ifa->ifa_flags & IFF_LOOPBACK) ||
                    !(ifa->ifa_flags & IFF_UP))
                        continue;
                family = ifa->ifa_addr->sa_family;
                if (family == AF_INET) {
                        addr = &((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr;
                        a->prefix = ifa->ifa_netmask ?
                                prefix_len((const unsigned char *)&((const struct sockaddr_in *)(const void *)ifa->ifa_netmask)->sin_addr, 4) : 32;
                } else if (family == AF_INET6) {
                        const struct in6_addr *a6 =
                                &((const struct sockaddr_in6 *)(const void *)ifa->ifa_addr)->sin6_addr;
                        if (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_LOOPBACK(a6))
                                continue;
                        addr = a6;
                        a->prefix = ifa->ifa_netmask ?
                                prefix_len(((const struct sockaddr_in6 *)(const void *)ifa->ifa_netmask)->sin6_addr.s6_addr, 16) : 128;
                } else {
                        continue;
                }
                if (!inet_ntop(family, addr, a->address, sizeof(a->address)))
                        continue;
                snprintf(a->iface, sizeof(a->iface), "%s", ifa->ifa_name);
                a->inet6 = family == AF_INET6;
                n++;
        }
        return n;
}

void ag_collect(const ag_paths *paths, time_t now, const struct ifaddrs *ifs, ag_sample *s)
{
        memset(s, 0, sizeof(*s));
        if (ag_read_uptime(paths->proc, &s->uptime_s) < 0)
                s->uptime_s = -1;
        s->have_load = ag_read_loadavg(paths->proc, s->load) == 0;
        if (ag_read_meminfo(paths->proc, &s->mem_total_kib, &s->mem_available_kib) < 0)
                s->mem_total_kib = s->mem_available_kib = -1;
        s->ssh_sessions = ag_count_ssh_sessions(paths->proc);
        if (ag_read_logins(paths, now, &s->users, &s->last_input_age_s) < 0) {
                s->users = -1;
                s->last_input_age_s = -1;
        }
        s->naddrs = ag_collect_addrs(ifs, s->addrs, AG_MAX_ADDRS);
        s->gpu.util_pct = s->gpu.gpus = -1; /* ag_gpu_cached() fills them in */
}

void ag_collect_now(const ag_paths *paths, ag_sample *s)
{
        struct ifaddrs *list = NULL;

        if (getifaddrs(&list) < 0)
                list = NULL;
        ag_collect(paths, time(NULL), list, s);
        if (list)
                freeifaddrs(list);
}

/* units.c — parse and print sizes and durations. */
#include "common/units.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits then an optional unit letter; the unit's multiplier comes from
 * mult. With bytes set, "K", "KB" and "KiB" are all accepted. */
static int parse_scaled(const char *s, const char *units, const uint64_t *mult, bool bytes,
                        uint64_t *out)
{
        unsigned long long v;
        uint64_t m = 1;
        char *end;

        if (!s || !isdigit((unsigned char)s[0]))
                return -1;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno)
                return -1;
        if (*end) {
                const char *u = strchr(units, *end);
                if (!u)
                        return -1;
                m = mult[u - units];
                end++;
                if (bytes && m > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
                        end += strlen(end);
                if (*end)
                        return -1;
        }
        if (v > UINT64_MAX / m)
                return -1;
        *out = (uint64_t)v * m;
        return 0;
}

int hd_parse_size(const char *s, uint64_t *out)
{
        static const uint64_t mult[] = {1, 1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40};

        return parse_scaled(s, "BKMGT", mult, true, out);
}

int hd_parse_duration(const char *s, uint64_t *out)
{
        /* Lower-case units only: "10m" is minutes, never "10M" anything. */
        static const uint64_t mult[] = {1, 60, 3600, 86400};

        return parse_scaled(s, "smhd", mult, false, out);
}
void hd_format_size(uint64_t bytes, char *buf, size_t len)
{
        static const char units[] = "KMGT";
        int u = -1;

        while (u < 3 && bytes >= 1024 && bytes % 1024 == 0) {
                bytes /= 1024;
                u++;
        }
        if (u < 0)
                snprintf(buf, len, "%llu", (unsigned long long)bytes);
        else
                snprintf(buf, len, "%llu%c", (unsigned long long)bytes, units[u]);
}

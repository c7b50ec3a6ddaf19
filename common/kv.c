/* kv.c — the `key = value` line reader of hostd.conf and wsctl.conf. */
#include "common/kv.h"
#include "common/buf.h"

#include <string.h>

int hd_kv_next(char **cursor, unsigned *line, char **key, char **val, hd_error *err)
{
        while (*cursor) {
                char *raw = *cursor, *next = strchr(raw, '\n'), *k, *eq;

                if (next)
                        *next++ = '\0';
                *cursor = next;
                (*line)++;
                k = hd_strtrim(raw);
                if (!*k || *k == '#')
                        continue;
                eq = strchr(k, '=');
                if (!eq)
                        return hd_error_set(err, HD_E_INVALID, "%u: expected 'key = value', got '%.64s'", *line, k);
                *eq = '\0';
                *val = hd_strtrim(eq + 1);
                *key = hd_strtrim(k);
                return 1;
        }
        return 0;
}

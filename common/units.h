/* units.h — sizes and durations as people write them in configs and requests. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* "20G", "512M", "64K", "1T", "1024" (bytes; suffixes are powers of 1024,
 * an optional trailing "iB"/"B" is accepted). -1 on a malformed value or overflow. */
int hd_parse_size(const char *s, uint64_t *out);

/* "90s", "10m", "2h", "1d", "45" (seconds). -1 on a malformed value or overflow. */
int hd_parse_duration(const char *s, uint64_t *out);

/* A size in the largest unit that divides it exactly: "20G", "512M", "1000". */
void hd_format_size(uint64_t bytes, char *buf, size_t len);

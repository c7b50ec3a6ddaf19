/* buf.h — a growable, always NUL-terminated string buffer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct hd_buf {
        char *data; /* NUL-terminated; NULL until the first append */
        size_t len;
        size_t cap;
} hd_buf;

#define HD_BUF_INIT {NULL, 0, 0}

/* All appenders abort() on out-of-memory: hostd cannot continue sensibly. */
void hd_buf_append(hd_buf *b, const char *s);
void hd_buf_append_len(hd_buf *b, const char *s, size_t n);
void hd_buf_appendf(hd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hd_buf_reset(hd_buf *b);
/* Give the string to the caller (never NULL: "" for an empty buffer). */
char *hd_buf_steal(hd_buf *b);
void hd_buf_free(hd_buf *b);

static inline void hd_buf_freep(hd_buf *b)
{
        hd_buf_free(b);
}
#define _cleanup_buf_ __attribute__((cleanup(hd_buf_freep)))

/* Allocation wrappers that abort on out-of-memory. */
void *hd_malloc0(size_t n);
char *hd_strdup(const char *s);
/* Cut leading and trailing white space in place; returns the first kept character. */
char *hd_strtrim(char *s);
char *hd_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

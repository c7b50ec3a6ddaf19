/* buf.c — string buffer and allocation wrappers that never return NULL. */
#include "common/buf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
        fputs("hostd: out of memory\n", stderr);
        abort();
}

void *hd_malloc0(size_t n)
{
        void *p = calloc(1, n ? n : 1);
        if (!p)
                oom();
        return p;
}

char *hd_strdup(const char *s)
{
        char *p = strdup(s ? s : "");
        if (!p)
                oom();
        return p;
}

char *hd_asprintf(const char *fmt, ...)
{
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        return s;
}

static void reserve(hd_buf *b, size_t extra)
{
        size_t need = b->len + extra + 1;
        size_t cap;
        char *p;

        if (need <= b->cap)
                return;
        cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
                oom();
        b->data = p;
        b->cap = cap;
}

void hd_buf_append_len(hd_buf *b, const char *s, size_t n)
{
        reserve(b, n);
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void hd_buf_append(hd_buf *b, const char *s)
{
        hd_buf_append_len(b, s, strlen(s));
}

void hd_buf_appendf(hd_buf *b, const char *fmt, ...)
{
        va_list ap, again;
        size_t avail;
        int n;

        /* Format into the free space; grow and format again if it did not fit. */
        reserve(b, 64);
        avail = b->cap - b->len;
        va_start(ap, fmt);
        va_copy(again, ap);
        n = vsnprintf(b->data + b->len, avail, fmt, ap);
        va_end(ap);
        if (n < 0)
                oom();
        if ((size_t)n >= avail) {
                reserve(b, (size_t)n);
                vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        }
        va_end(again);
        b->len += (size_t)n;
}

void hd_buf_reset(hd_buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

char *hd_buf_steal(hd_buf *b)
{
        char *s = b->data ? b->data : hd_strdup("");
        b->data = NULL;
        b->len = b->cap = 0;
        return s;
}

void hd_buf_free(hd_buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

char *hd_strtrim(char *s)
{
        char *e;

        while (isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

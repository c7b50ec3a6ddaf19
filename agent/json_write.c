/* json_write.c — a bounded JSON writer for the agent's messages.
 *
 * Writes into a caller's fixed buffer; anything that does not fit marks the
 * writer as overflowed and ag_jw_finish() refuses the message, so a message
 * is either whole or not sent. Strings are escaped (quote, backslash, control
 * characters) and must be UTF-8: invalid bytes, and NUL, are replaced by
 * U+FFFD so the host's JSON parser never rejects a line because of one odd
 * byte. */
#include "agent/agent.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void ag_jw_init(ag_jw *w, char *buf, size_t cap)
{
        memset(w, 0, sizeof(*w));
        w->buf = buf;
        w->cap = cap;
        w->first[0] = true;
        if (cap > 0)
                buf[0] = '\0';
        else
                w->overflow = true;
}

static void put(ag_jw *w, const char *s, size_t n)
{
        if (w->overflow)
                return;
        if (n >= w->cap - w->len) { /* keep one byte for the NUL */
                w->overflow = true;
                return;
        }
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = '\0';
}

/* Before a value: a comma between siblings, nothing after a key. */
static void value_start(ag_jw *w)
{
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (!w->first[w->depth])
                put(w, ",", 1);
        w->first[w->depth] = false;
}

static void open_nested(ag_jw *w, char c)
{
        value_start(w);
        put(w, &c, 1);
        if (w->depth + 1 >= AG_JW_DEPTH) {
                w->overflow = true;
                return;
        }
        w->first[++w->depth] = true;
}

static void close_nested(ag_jw *w, char c)
{
        if (w->depth == 0 || w->after_key) {
                w->overflow = true;
                return;
        }
        w->depth--;
        put(w, &c, 1);
}

void ag_jw_obj_begin(ag_jw *w)
{
        open_nested(w, '{');
}

void ag_jw_obj_end(ag_jw *w)
{
        close_nested(w, '}');
}

void ag_jw_arr_begin(ag_jw *w)
{
        open_nested(w, '[');
}

void ag_jw_arr_end(ag_jw *w)
{
        close_nested(w, ']');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
        unsigned char c = s[0];
        size_t len;
        unsigned cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

static void put_string(ag_jw *w, const char *str, size_t n)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;

        put(w, "\"", 1);
        while (i < n && !w->overflow) {
                unsigned char c = s[i];
                char esc[8];
                size_t run = 0, l;

                /* Copy the longest stretch that needs no escaping at once. */
                while (i + run < n && s[i + run] >= 0x20 && s[i + run] < 0x7f &&
                       s[i + run] != '"' && s[i + run] != '\\')
                        run++;
                if (run) {
                        put(w, str + i, run);
                        i += run;
                        continue;
                }
                switch (c) {
                case '"': put(w, "\\\"", 2); i++; continue;
                case '\\': put(w, "\\\\", 2); i++; continue;
                case '\n': put(w, "\\n", 2); i++; continue;
                case '\r': put(w, "\\r", 2); i++; continue;
                case '\t': put(w, "\\t", 2); i++; continue;
                case '\b': put(w, "\\b", 2); i++; continue;
                case '\f': put(w, "\\f", 2); i++; continue;
                default: break;
                }
                if (c == 0) {
                        /* "\u0000" is valid JSON that jansson refuses by default. */
                        put(w, "\xef\xbf\xbd", 3);
                        i++;
                        continue;
                }
                if (c < 0x20 || c == 0x7f) {
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                        put(w, esc, 6);
                        i++;
                        continue;
                }
                l = utf8_len(s + i, n - i);
                if (l == 0) {
                        put(w, "\xef\xbf\xbd", 3); /* U+FFFD */
                        i++;
                } else {
                        put(w, str + i, l);
                        i += l;
                }
        }
        put(w, "\"", 1);
}

void ag_jw_key(ag_jw *w, const char *key)
{
        if (w->after_key || w->depth == 0) {
                w->overflow = true;
                return;
        }
        value_start(w);
        put_string(w, key, strlen(key));
        put(w, ":", 1);
        w->after_key = true;
}

void ag_jw_str_len(ag_jw *w, const char *s, size_t len)
{
        value_start(w);
        put_string(w, s, len);
}

void ag_jw_str(ag_jw *w, const char *s)
{
        if (!s) {
                ag_jw_null(w);
                return;
        }
        ag_jw_str_len(w, s, strlen(s));
}

void ag_jw_int(ag_jw *w, long long v)
{
        char num[32];
        int n = snprintf(num, sizeof(num), "%lld", v);

        value_start(w);
        put(w, num, (size_t)n);
}

void ag_jw_fixed2(ag_jw *w, double v)
{
        char num[64];
        int n;

        if (!isfinite(v) || fabs(v) > 1e15) {
                ag_jw_null(w);
                return;
        }
        n = snprintf(num, sizeof(num), "%.2f", v);
        value_start(w);
        put(w, num, (size_t)n);
}

void ag_jw_null(ag_jw *w)
{
        value_start(w);
        put(w, "null", 4);
}

void ag_jw_bool(ag_jw *w, bool v)
{
        value_start(w);
        put(w, v ? "true" : "false", v ? 4 : 5);
}

ssize_t ag_jw_finish(ag_jw *w)
{
        if (w->overflow || w->depth != 0 || w->after_key)
                return -1;
        return (ssize_t)w->len;
}

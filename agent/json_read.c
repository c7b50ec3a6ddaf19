/* json_read.c — a small validating JSON reader for what the agent reads:
 * the host's messages and cloud-init's result.json.
 *
 * No tree is built: a value is a span of the input text, validated once by
 * ag_json_parse() (bounded nesting, never a read past the end), and members
 * and elements are found by walking that span again. */
#include "agent/agent.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
        return p;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* p at the opening quote; returns the position after the closing quote. */
static const char *skip_string(const char *p, const char *end)
{
        if (p >= end || *p != '"')
                return NULL;
        for (p++; p < end; p++) {
                unsigned char c = (unsigned char)*p;

                if (c == '"')
                        return p + 1;
                if (c < 0x20)
                        return NULL;
                if (c != '\\')
                        continue;
                if (++p >= end)
                        return NULL;
                if (*p == 'u') {
                        if (end - p < 5)
                                return NULL;
                        for (int i = 1; i <= 4; i++)
                                if (hexval(p[i]) < 0)
                                        return NULL;
                        p += 4;
                } else if (!strchr("\"\\/bfnrt", *p) || *p == '\0') {
                        return NULL;
                }
        }
        return NULL;
}

static const char *skip_digits(const char *p, const char *end)
{
        const char *start = p;

        while (p < end && *p >= '0' && *p <= '9')
                p++;
        return p > start ? p : NULL;
}

static const char *skip_number(const char *p, const char *end)
{
        if (p < end && *p == '-')
                p++;
        if (p < end && *p == '0')
                p++;
        else if (!(p = skip_digits(p, end)))
                return NULL;
        if (p < end && *p == '.' && !(p = skip_digits(p + 1, end)))
                return NULL;
        if (p < end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                        p++;
                if (!(p = skip_digits(p, end)))
                        return NULL;
        }
        return p;
}

static const char *skip_literal(const char *p, const char *end, const char *word)
{
        size_t n = strlen(word);

        if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
                return NULL;
        return p + n;
}

static const char *skip_value(const char *p, const char *end, int depth, ag_jtype *type);

/* Objects and arrays: p at '{' or '['. */
static const char *skip_container(const char *p, const char *end, int depth, char close)
{
        ag_jtype t;

        if (depth >= AG_JSON_DEPTH)
                return NULL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
                return p + 1;
        for (;;) {
                if (close == '}') {
                        if (!(p = skip_string(p, end)))
                                return NULL;
                        p = skip_ws(p, end);
                        if (p >= end || *p != ':')
                                return NULL;
                        p = skip_ws(p + 1, end);
                }
                if (!(p = skip_value(p, end, depth + 1, &t)))
                        return NULL;
                p = skip_ws(p, end);
                if (p >= end)
                        return NULL;
                if (*p == close)
                        return p + 1;
                if (*p != ',')
                        return NULL;
                p = skip_ws(p + 1, end);
        }
}

static const char *skip_value(const char *p, const char *end, int depth, ag_jtype *type)
{
        if (p >= end)
                return NULL;
        switch (*p) {
        case '{': *type = AG_J_OBJ; return skip_container(p, end, depth, '}');
        case '[': *type = AG_J_ARR; return skip_container(p, end, depth, ']');
        case '"': *type = AG_J_STR; return skip_string(p, end);
        case 't': *type = AG_J_BOOL; return skip_literal(p, end, "true");
        case 'f': *type = AG_J_BOOL; return skip_literal(p, end, "false");
        case 'n': *type = AG_J_NULL; return skip_literal(p, end, "null");
        default: *type = AG_J_NUM; return skip_number(p, end);
        }
}

int ag_json_parse(const char *s, size_t len, ag_jval *out)
{
        const char *end = s + len, *p = skip_ws(s, end), *v;
        ag_jtype type = AG_J_NONE;

        out->type = AG_J_NONE;
        if (!(v = skip_value(p, end, 0, &type)) || skip_ws(v, end) != end)
                return -1;
        out->type = type;
        out->p = p;
        out->end = v;
        return 0;
}

/* Walk an already validated object or array one entry at a time. */
static bool next_entry(ag_jiter *it, bool with_key, ag_jval *key, ag_jval *val)
{
        const char *p = skip_ws(it->p, it->end);

        if (p >= it->end || *p == '}' || *p == ']')
                return false;
        if (*p == ',')
                p = skip_ws(p + 1, it->end);
        if (with_key) {
                key->type = AG_J_STR;
                key->p = p;
                if (!(key->end = skip_string(p, it->end)))
                        return false;
                p = skip_ws(key->end, it->end);
                p = skip_ws(p + 1, it->end); /* ':' */
        }
        val->p = p;
        if (!(val->end = skip_value(p, it->end, 0, &val->type)))
                return false;
        it->p = val->end;
        return true;
}

int ag_json_get(const ag_jval *obj, const char *key, ag_jval *out)
{
        ag_jiter it;
        ag_jval k, v;
        char name[256];

        if (obj->type != AG_J_OBJ)
                return -1;
        it.p = obj->p + 1;
        it.end = obj->end;
        while (next_entry(&it, true, &k, &v)) {
                if (ag_json_str(&k, name, sizeof(name)) == 0 && strcmp(name, key) == 0) {
                        *out = v;
                        return 0;
                }
        }
        return -1;
}

void ag_json_iter(const ag_jval *arr, ag_jiter *it)
{
        if (arr->type == AG_J_ARR) {
                it->p = arr->p + 1;
                it->end = arr->end;
        } else {
                it->p = it->end = NULL;
        }
}

bool ag_json_next(ag_jiter *it, ag_jval *out)
{
        return next_entry(it, false, NULL, out);
}

/* Append code point cp as UTF-8 if it fits; false when buf is full. */
static bool put_utf8(char *buf, size_t size, size_t *len, unsigned long cp)
{
        char tmp[4];
        size_t n;

        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                cp = 0xfffd;
        if (cp < 0x80) {
                tmp[0] = (char)cp, n = 1;
        } else if (cp < 0x800) {
                tmp[0] = (char)(0xc0 | (cp >> 6)), n = 2;
        } else if (cp < 0x10000) {
                tmp[0] = (char)(0xe0 | (cp >> 12)), n = 3;
        } else {
                tmp[0] = (char)(0xf0 | (cp >> 18)), n = 4;
        }
        for (size_t i = 1; i < n; i++)
                tmp[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
        if (*len + n >= size)
                return false;
        memcpy(buf + *len, tmp, n);
        *len += n;
        return true;
}

static unsigned long hex4(const char *p)
{
        return (unsigned long)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

int ag_json_str(const ag_jval *v, char *buf, size_t size)
{
        const char *p, *end;
        size_t len = 0;

        if (size == 0)
                return -1;
        buf[0] = '\0';
        if (v->type != AG_J_STR)
                return -1;
        p = v->p + 1;
        end = v->end - 1; /* the closing quote */
        while (p < end) {
                unsigned long cp;

                if (*p != '\\') {
                        /* Raw bytes are copied whole per UTF-8 sequence: stop
                         * before a sequence that would not fit. */
                        size_t n = 1;
                        while (p + n < end && ((unsigned char)p[n] & 0xc0) == 0x80 && n < 4)
                                n++;
                        if (len + n >= size)
                                break;
                        memcpy(buf + len, p, n);
                        len += n;
                        p += n;
                        continue;
                }
                p++;
                switch (*p) {
                case 'b': cp = '\b'; break;
                case 'f': cp = '\f'; break;
                case 'n': cp = '\n'; break;
                case 'r': cp = '\r'; break;
                case 't': cp = '\t'; break;
                case 'u':
                        cp = hex4(p + 1);
                        p += 4;
                        if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 7 && p[1] == '\\' &&
                            p[2] == 'u') {
                                unsigned long lo = hex4(p + 3);
                                if (lo >= 0xdc00 && lo <= 0xdfff) {
                                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                        p += 6;
                                }
                        }
                        break;
                default: cp = (unsigned char)*p; break; /* " \ / */
                }
                p++;
                if (!put_utf8(buf, size, &len, cp))
                        break;
        }
        buf[len] = '\0';
        return 0;
}

int ag_json_int(const ag_jval *v, long long *out)
{
        char num[32];
        size_t n;
        char *endp;
        long long x;

        if (v->type != AG_J_NUM)
                return -1;
        n = (size_t)(v->end - v->p);
        if (n >= sizeof(num))
                return -1;
        memcpy(num, v->p, n);
        num[n] = '\0';
        errno = 0;
        x = strtoll(num, &endp, 10);
        if (errno || *endp)
                return -1;
        *out = x;
        return 0;
}

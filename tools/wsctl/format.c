/* format.c — wsctl's human output: aligned tables, sizes, ages, shell-quoted
 * words, and the pretty JSON of --json. */
#include "tools/wsctl/wsctl.h"

#include <string.h>

void wsctl_table_add(wsctl_table *t, const char *const *row)
{
        size_t need = (t->nrows + 1) * t->ncols;

        if (need > t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16 * t->ncols;
                char **cells;
                while (cap < need)
                        cap *= 2;
                cells = realloc(t->cells, cap * sizeof(*cells));
                if (!cells)
                        abort();
                t->cells = cells;
                t->cap = cap;
        }
        for (size_t c = 0; c < t->ncols; c++)
                t->cells[t->nrows * t->ncols + c] = hd_strdup(row[c] ? row[c] : "");
        t->nrows++;
}

/* Width on a terminal: UTF-8 continuation bytes take no column. */
static size_t text_width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

char *wsctl_table_render(const wsctl_table *t)
{
        _cleanup_free_ size_t *width = hd_malloc0((t->ncols ? t->ncols : 1) * sizeof(size_t));
        hd_buf b = HD_BUF_INIT;

        for (size_t r = 0; r < t->nrows; r++)
                for (size_t c = 0; c < t->ncols; c++) {
                        size_t w = text_width(t->cells[r * t->ncols + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->nrows; r++) {
                size_t line_start = b.len;
                for (size_t c = 0; c < t->ncols; c++) {
                        const char *cell = t->cells[r * t->ncols + c];
                        hd_buf_append(&b, cell);
                        if (c + 1 < t->ncols)
                                hd_buf_appendf(&b, "%*s", (int)(width[c] - text_width(cell) + 2), "");
                }
                while (b.len > line_start && b.data[b.len - 1] == ' ')
                        b.data[--b.len] = '\0';
                hd_buf_append(&b, "\n");
        }
        return hd_buf_steal(&b);
}

void wsctl_table_free(wsctl_table *t)
{
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        t->cells = NULL;
        t->nrows = t->cap = 0;
}

void wsctl_format_bytes(uint64_t bytes, char *buf, size_t len)
{
        static const char units[] = "BKMGTP";
        uint64_t unit = 1;
        int u = 0;

        while (u < 5 && bytes / unit >= 1024) {
                unit *= 1024;
                u++;
        }
        if (bytes % unit == 0)
                snprintf(buf, len, "%llu%c", (unsigned long long)(bytes / unit), units[u]);
        else
                snprintf(buf, len, "%.1f%c", (double)bytes / (double)unit, units[u]);
}

void wsctl_format_age(long long seconds, char *buf, size_t len)
{
        if (seconds < 0)
                seconds = 0;
        if (seconds < 60)
                snprintf(buf, len, "%llds", seconds);
        else if (seconds < 3600)
                snprintf(buf, len, "%lldm", seconds / 60);
        else if (seconds < 86400)
                snprintf(buf, len, "%lldh", seconds / 3600);
        else
                snprintf(buf, len, "%lldd", seconds / 86400);
}

long long wsctl_parse_time(const char *s)
{
        struct tm tm = {0};
        char *end;

        if (!s)
                return -1;
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
                return -1;
        if (*end == '.') /* fractions of a second */
                end += 1 + strspn(end + 1, "0123456789");
        if (strcmp(end, "Z") != 0)
                return -1;
        return (long long)timegm(&tm);
}

void wsctl_age_of(json_t *timestamp, time_t now, char *buf, size_t len)
{
        long long t = wsctl_parse_time(json_string_value(timestamp));

        if (t < 0)
                snprintf(buf, len, "-");
        else
                wsctl_format_age((long long)now - t, buf, len);
}

int wsctl_print_collection(wsctl_ctx *ctx, const char *path, const char *key, const char *const *header,
                           size_t ncols, const char *empty, void (*add_row)(wsctl_table *t, json_t *item, time_t now))
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        int rc;

        if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json)
                wsctl_print_json(ctx, r.json);
        else
                wsctl_print_rows(ctx, json_object_get(r.json, key), header, ncols, empty, add_row);
        return WSCTL_EXIT_OK;
}

void wsctl_print_rows(wsctl_ctx *ctx, json_t *list, const char *const *header, size_t ncols, const char *empty,
                      void (*add_row)(wsctl_table *t, json_t *item, time_t now))
{
        _cleanup_table_ wsctl_table t = WSCTL_TABLE_INIT(ncols);
        _cleanup_free_ char *text = NULL;
        time_t now = time(NULL);
        json_t *item;
        size_t i;

        if (json_array_size(list) == 0) {
                fprintf(ctx->out, "%s\n", empty);
                return;
        }
        wsctl_table_add(&t, header);
        json_array_foreach(list, i, item)
                add_row(&t, item, now);
        text = wsctl_table_render(&t);
        fputs(text, ctx->out);
}

void wsctl_print_fields(wsctl_ctx *ctx, const char *const (*fields)[2], size_t n)
{
        _cleanup_table_ wsctl_table t = WSCTL_TABLE_INIT(2);
        _cleanup_free_ char *text = NULL;

        for (size_t i = 0; i < n; i++)
                if (fields[i][1])
                        wsctl_table_add(&t, fields[i]);
        text = wsctl_table_render(&t);
        fputs(text, ctx->out);
}

void wsctl_print_json(wsctl_ctx *ctx, json_t *j)
{
        if (!j)
                return;
        json_dumpf(j, ctx->out, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', ctx->out);
}

char *wsctl_shell_quote(const char *s)
{
        hd_buf b = HD_BUF_INIT;

        if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") ==
                          strlen(s))
                return hd_strdup(s);
        hd_buf_append(&b, "'");
        for (; *s; s++) {
                if (*s == '\'')
                        hd_buf_append(&b, "'\\''");
                else
                        hd_buf_append_len(&b, s, 1);
        }
        hd_buf_append(&b, "'");
        return hd_buf_steal(&b);
}

char *wsctl_join(json_t *list)
{
        hd_buf b = HD_BUF_INIT;
        json_t *s;
        size_t i;

        json_array_foreach(list, i, s)
                if (json_is_string(s))
                        hd_buf_appendf(&b, "%s%s", b.len ? ", " : "", json_string_value(s));
        return b.len ? hd_buf_steal(&b) : (hd_buf_free(&b), NULL);
}

const char *wsctl_str(json_t *o, const char *key, const char *fallback)
{
        const char *s = json_string_value(json_object_get(o, key));

        return s ? s : fallback;
}

/* template-errors.c — the error list that template parsing and directory
 * loading fill, and how sizes, durations and counts are written in
 * messages and diffs. */
#include "orchestrator/template-internal.h"

#include "common/buf.h"
#include "common/units.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push(orch_template_errors *e, const char *file, char *path, char *reason)
{
        orch_template_error *nv = realloc(e->v, (e->n + 1) * sizeof(*e->v));

        if (!nv)
                abort();
        e->v = nv;
        e->v[e->n++] = (orch_template_error){file ? hd_strdup(file) : NULL, path, reason};
}

void orch_tpl_error_add(orch_template_errors *e, const char *file, const char *path,
                        const char *fmt, ...)
{
        va_list ap;
        char *reason;

        if (e->n >= ORCH_TEMPLATE_ERRORS_MAX) {
                /* one last entry counts what is left out */
                if (e->dropped++ == 0)
                        push(e, NULL, hd_strdup("template"), NULL);
                free(e->v[e->n - 1].reason);
                e->v[e->n - 1].reason = hd_asprintf("%zu more error%s not listed", e->dropped,
                                                    e->dropped == 1 ? "" : "s");
                return;
        }
        va_start(ap, fmt);
        if (vasprintf(&reason, fmt, ap) < 0)
                abort();
        va_end(ap);
        push(e, file, hd_strdup(path), reason);
}

char *orch_tpl_path(const char *parent, const char *key)
{
        char shown[64 + 4];
        size_t i;

        for (i = 0; key[i] && i < 64; i++)
                shown[i] = (key[i] > 0x20 && key[i] < 0x7f) ? key[i] : '?';
        strcpy(shown + i, key[i] ? "..." : "");
        return *parent ? hd_asprintf("%s.%s", parent, shown) : hd_strdup(shown);
}

bool orch_tpl_has_error(const orch_template_errors *e, const char *path)
{
        size_t len = strlen(path);

        for (size_t i = 0; i < e->n; i++) {
                const char *p = e->v[i].path;
                if (strncmp(p, path, len) == 0 && strchr(".[", p[len]))
                        return true; /* strchr also matches p[len] == '\0' */
        }
        return false;
}

void orch_template_errors_clear(orch_template_errors *e)
{
        for (size_t i = 0; i < e->n; i++) {
                free(e->v[i].file);
                free(e->v[i].path);
                free(e->v[i].reason);
        }
        free(e->v);
        *e = (orch_template_errors){0};
}

char *orch_template_errors_format(const orch_template_errors *e)
{
        hd_buf b = HD_BUF_INIT;

        for (size_t i = 0; i < e->n; i++) {
                if (e->v[i].file)
                        hd_buf_appendf(&b, "%s: ", e->v[i].file);
                hd_buf_appendf(&b, "%s: %s\n", e->v[i].path, e->v[i].reason);
        }
        return hd_buf_steal(&b);
}

void orch_tpl_format(orch_tpl_unit u, uint64_t v, char *buf)
{
        /* durations: the largest unit that divides them exactly ("7d", "90s") */
        static const struct {
                char unit;
                uint64_t secs;
        } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}};

        if (u == ORCH_TPL_SIZE) {
                hd_format_size(v, buf, ORCH_TPL_VALUE_MAX);
                return;
        }
        for (size_t i = 0; u == ORCH_TPL_DURATION && v > 0 && i < HD_ARRAY_SIZE(units); i++) {
                if (v % units[i].secs == 0) {
                        snprintf(buf, ORCH_TPL_VALUE_MAX, "%llu%c",
                                 (unsigned long long)(v / units[i].secs), units[i].unit);
                        return;
                }
        }
        snprintf(buf, ORCH_TPL_VALUE_MAX, "%llu%s", (unsigned long long)v,
                 u == ORCH_TPL_DURATION ? "s" : "");
}

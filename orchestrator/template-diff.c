/* template-diff.c — a readable field-by-field diff of two template versions
 * for `wsctl template diff`: one line per changed field, values written as
 * in a template ("memory: 32G -> 64G"), cloud_config compared key by key
 * and the startup script summarized by lines. */
#include "orchestrator/template-internal.h"

#include "common/buf.h"
#include "orchestrator/gpu-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOWN_MAX 80 /* bytes of a JSON value shown before it is cut */

enum {
        D_NAME, D_DESCRIPTION, D_IMAGE, D_VCPUS, D_MEMORY, D_DISK, D_GPU_COUNT, D_GPU_MODEL,
        D_GPU_NUMA, D_NETWORK, D_BRIDGE, D_STARTUP_TIMEOUT, D_IDLE_TIMEOUT, D_MAX_LIFETIME, D_LIFETIME_ACTION,
        D_GROUPS, D_P_VCPUS, D_P_MEMORY, D_P_DISK, D_P_GPUS, D_P_LIFETIME, D__COUNT
};

static const char *const field_names[D__COUNT] = {
        "name", "description", "image", "vcpus", "memory", "disk", "gpus.count", "gpus.model",
        "gpus.numa", "network", "bridge", "startup_timeout", "idle_timeout", "max_lifetime", "lifetime_action",
        "groups", "parameters.vcpus", "parameters.memory", "parameters.disk", "parameters.gpus",
        "parameters.lifetime",
};

/* A JSON value on one line (escaped), cut after SHOWN_MAX bytes; "(none)" for NULL. */
static char *json_short(const json_t *v)
{
        char *s;

        if (!v)
                return hd_strdup("(none)");
        s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        if (!s)
                abort();
        if (strlen(s) > SHOWN_MAX)
                strcpy(s + SHOWN_MAX - 3, "...");
        return s;
}

static char *fmt_value(orch_tpl_unit u, uint64_t v)
{
        char buf[ORCH_TPL_VALUE_MAX];

        orch_tpl_format(u, v, buf);
        return hd_strdup(buf);
}

static char *fmt_range(const orch_template_range *r, orch_tpl_unit u, bool with_min)
{
        char lo[ORCH_TPL_VALUE_MAX], hi[ORCH_TPL_VALUE_MAX];

        if (!r->set)
                return hd_strdup("(not overridable)");
        orch_tpl_format(u, r->min, lo);
        orch_tpl_format(u, r->max, hi);
        return with_min ? hd_asprintf("%s..%s", lo, hi) : hd_asprintf("up to %s", hi);
}

/* Field f of t as a person writes it (caller frees). */
static char *describe(const orch_template *t, int f)
{
        hd_buf b = HD_BUF_INIT;

        switch (f) {
        case D_NAME:
                return hd_strdup(t->name);
        case D_DESCRIPTION: {
                _cleanup_(json_decrefp) json_t *s = t->description ? json_string(t->description) : NULL;
                return json_short(s);
        }
        case D_IMAGE:
                return hd_strdup(t->image);
        case D_VCPUS:
                return fmt_value(ORCH_TPL_COUNT, t->vcpus);
        case D_MEMORY:
                return fmt_value(ORCH_TPL_SIZE, t->memory);
        case D_DISK:
                return fmt_value(ORCH_TPL_SIZE, t->disk);
        case D_GPU_COUNT:
                return fmt_value(ORCH_TPL_COUNT, t->gpu_count);
        case D_GPU_MODEL:
                return hd_strdup(t->gpu_model ? t->gpu_model : "(any)");
        case D_GPU_NUMA:
                return hd_strdup(t->gpu_numa == ORCH_TEMPLATE_NUMA_REQUIRED ? "required" : "preferred");
        case D_NETWORK:
                return hd_strdup(t->network ? t->network : "(none)");
        case D_BRIDGE:
                return hd_strdup(t->bridge ? t->bridge : "(none)");
        case D_STARTUP_TIMEOUT:
                return t->startup_timeout ? fmt_value(ORCH_TPL_DURATION, t->startup_timeout)
                                          : hd_strdup("(default, 1h)");
        case D_IDLE_TIMEOUT:
                return t->idle_timeout ? fmt_value(ORCH_TPL_DURATION, t->idle_timeout) : hd_strdup("off");
        case D_MAX_LIFETIME:
                return t->max_lifetime ? fmt_value(ORCH_TPL_DURATION, t->max_lifetime)
                                       : hd_strdup("(no limit)");
        case D_LIFETIME_ACTION:
                return hd_strdup(t->lifetime_action == ORCH_TEMPLATE_LIFETIME_DELETE ? "delete" : "stop");
        case D_GROUPS:
                for (size_t i = 0; i < t->n_groups; i++)
                        hd_buf_appendf(&b, "%s%s", i ? ", " : "", t->groups[i]);
                return t->n_groups ? hd_buf_steal(&b) : hd_strdup("(everyone)");
        case D_P_VCPUS:
                return fmt_range(&t->params.vcpus, ORCH_TPL_COUNT, true);
        case D_P_MEMORY:
                return fmt_range(&t->params.memory, ORCH_TPL_SIZE, true);
        case D_P_DISK:
                return fmt_range(&t->params.disk, ORCH_TPL_SIZE, true);
        case D_P_GPUS:
                return fmt_range(&t->params.gpus, ORCH_TPL_COUNT, true);
        default:
                return fmt_range(&t->params.lifetime, ORCH_TPL_DURATION, false);
        }
}

/* cloud_config key by key, over the keys of both in sorted order. */
static void diff_cloud_config(hd_buf *out, const char *a_text, const char *b_text)
{
        _cleanup_(json_decrefp) json_t *a = a_text ? json_loads(a_text, 0, NULL) : json_object();
        _cleanup_(json_decrefp) json_t *b = b_text ? json_loads(b_text, 0, NULL) : json_object();
        char **keys = NULL;
        size_t n = 0;
        const char *key;
        json_t *v;

        if (!a || !b)
                abort();
        json_object_foreach(a, key, v)
                orch_strv_push(&keys, &n, key);
        json_object_foreach(b, key, v)
                if (!json_object_get(a, key))
                        orch_strv_push(&keys, &n, key);
        orch_strv_sort(keys, n);
        for (size_t i = 0; i < n; i++) {
                json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
                if (x && y && json_equal(x, y))
                        continue;
                _cleanup_free_ char *path = orch_tpl_path("cloud_config", keys[i]);
                _cleanup_free_ char *sx = json_short(x), *sy = json_short(y);
                hd_buf_appendf(out, "%s: %s -> %s\n", path, sx, sy);
        }
        orch_strv_free(keys, n);
}

static size_t count_lines(const char *s)
{
        size_t n = 0;

        for (const char *p = s; *p; p++)
                n += *p == '\n';
        return n + (*s && s[strlen(s) - 1] != '\n');
}

static void diff_script(hd_buf *out, const char *a, const char *b)
{
        size_t line = 1;

        if ((!a && !b) || (a && b && strcmp(a, b) == 0))
                return;
        hd_buf_append(out, "startup_script: ");
        if (a)
                hd_buf_appendf(out, "%zu lines, %zu bytes -> ", count_lines(a), strlen(a));
        else
                hd_buf_append(out, "(none) -> ");
        if (!b) {
                hd_buf_append(out, "(none)\n");
                return;
        }
        hd_buf_appendf(out, "%zu lines, %zu bytes", count_lines(b), strlen(b));
        for (size_t i = 0; a && a[i] && a[i] == b[i]; i++)
                line += a[i] == '\n';
        hd_buf_appendf(out, a ? " (first difference at line %zu)\n" : "\n", line);
}

char *orch_template_diff(const orch_template *a, const orch_template *b)
{
        hd_buf out = HD_BUF_INIT;

        for (int f = 0; f < D__COUNT; f++) {
                _cleanup_free_ char *x = describe(a, f), *y = describe(b, f);
                if (strcmp(x, y) != 0)
                        hd_buf_appendf(&out, "%s: %s -> %s\n", field_names[f], x, y);
        }
        diff_cloud_config(&out, a->cloud_config, b->cloud_config);
        diff_script(&out, a->startup_script, b->startup_script);
        return hd_buf_steal(&out);
}

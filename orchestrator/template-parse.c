/* template-parse.c — a template's JSON text into an orch_template.
 *
 * Validation goes on after the first problem so that a user sees every
 * error at once, each with the field's path and a reason; the template is
 * returned only when there is none.  Fields are checked in the file's order
 * through tables of known keys, so an unknown key is named wherever it is
 * (except inside cloud_config, which is the user's own cloud-config). */
#include "orchestrator/template-internal.h"

#include "common/common.h"
#include "orchestrator/gpu-internal.h"
#include "orchestrator/orchestrator.h"

#include <stdarg.h>
#include <string.h>

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"
#define DESCRIPTION_MAX 1024
#define GPU_MODEL_MAX 64

typedef struct pctx {
        orch_template_errors *errs;
        orch_template *t;
} pctx;

#define bad(c, path, ...) orch_tpl_error_add((c)->errs, NULL, (path), __VA_ARGS__)

/* The limits of one kind of number. */
typedef struct kind {
        orch_tpl_unit unit;
        uint64_t lo, hi;       /* inclusive */
        uint64_t step;         /* sizes: must be a multiple of this ... */
        const char *step_name; /* ... named so */
        bool off;              /* durations: "off" and 0 mean none */
} kind;

static const kind K_VCPUS = {ORCH_TPL_COUNT, 1, ORCH_VCPUS_MAX};
static const kind K_GPUS = {ORCH_TPL_COUNT, 0, ORCH_TEMPLATE_GPUS_MAX};
static const kind K_MEMORY = {ORCH_TPL_SIZE, (uint64_t)ORCH_MEMORY_MIB_MIN << 20,
                              (uint64_t)ORCH_MEMORY_MIB_MAX << 20, 1u << 20, "MiB"};
static const kind K_DISK = {ORCH_TPL_SIZE, 1ull << 30, 64ull << 40, 1u << 30, "GiB"};
static const kind K_IDLE = {ORCH_TPL_DURATION, 0, 365 * 86400ull, 0, NULL, true};
static const kind K_LIFETIME = {ORCH_TPL_DURATION, 1, 3650 * 86400ull, 0, NULL, true};
static const kind K_LIFETIME_MAX = {ORCH_TPL_DURATION, 1, 3650 * 86400ull};
static const kind K_STARTUP_TIMEOUT = {ORCH_TPL_DURATION, 1, ORCH_TEMPLATE_STARTUP_TIMEOUT_MAX};

/* A user's value repeated in a message: quoted, cut, odd bytes as '?'. */
static const char *shown(const char *s, char buf[48])
{
        size_t i;

        buf[0] = '"';
        for (i = 0; s[i] && i < 40; i++)
                buf[i + 1] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        strcpy(buf + i + 1, s[i] ? "...\"" : "\"");
        return buf;
}

/* s is 1..max bytes, its first byte from first and the others from rest. */
static bool chars_ok(const char *s, size_t max, const char *first, const char *rest)
{
        size_t len = strlen(s);

        return len > 0 && len <= max && strchr(first, s[0]) && strspn(s + 1, rest) == len - 1;
}

/* Printable ASCII and (when text) any UTF-8, with newline and tab only when text. */
static bool printable(const char *s, bool text)
{
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch == 0x7f || (ch < 0x20 && !(text && (ch == '\n' || ch == '\t'))) ||
                    (ch >= 0x80 && !text))
                        return false;
        }
        return true;
}

/* A string of at most max bytes without NUL; NULL (error recorded) otherwise. */
static const char *str(pctx *c, const char *path, json_t *v, size_t max)
{
        const char *s = json_string_value(v);

        if (!s) {
                bad(c, path, "must be a string");
                return NULL;
        }
        if (strlen(s) != json_string_length(v)) {
                bad(c, path, "must not contain a NUL byte");
                return NULL;
        }
        if (json_string_length(v) > max) {
                bad(c, path, "is %zu bytes, the limit is %zu", json_string_length(v), max);
                return NULL;
        }
        return s;
}

static bool out_of_range(pctx *c, const char *path, const kind *k, uint64_t v)
{
        char lo[ORCH_TPL_VALUE_MAX], hi[ORCH_TPL_VALUE_MAX];

        if (v >= k->lo && v <= k->hi)
                return false;
        orch_tpl_format(k->unit, k->lo, lo);
        orch_tpl_format(k->unit, k->hi, hi);
        if (k->off)
                bad(c, path, "must be at most %s, or \"off\"", hi);
        else
                bad(c, path, "must be between %s and %s", lo, hi);
        return true;
}

/* A count, a size or a duration, checked against k; false (error recorded) when bad. */
static bool value(pctx *c, const char *path, json_t *v, const kind *k, uint64_t *out)
{
        static const char *const examples[] = {
                [ORCH_TPL_COUNT] = "an integer",
                [ORCH_TPL_SIZE] = "a size such as \"64G\"",
                [ORCH_TPL_DURATION] = "a duration such as \"2h\"",
        };
        const char *s = json_string_value(v);
        char buf[48];
        uint64_t x;

        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0) {
                        out_of_range(c, path, k, k->hi + 1);
                        return false;
                }
                x = (uint64_t)json_integer_value(v);
        } else if (!s || k->unit == ORCH_TPL_COUNT) {
                bad(c, path, "must be %s%s", examples[k->unit], k->off ? " or \"off\"" : "");
                return false;
        } else if (k->off && strcmp(s, "off") == 0) {
                x = 0;
        } else if (k->unit == ORCH_TPL_SIZE && hd_parse_size(s, &x) < 0) {
                bad(c, path, "%s is not a size: use a whole number with an optional K, M, G or T",
                    shown(s, buf));
                return false;
        } else if (k->unit == ORCH_TPL_DURATION && hd_parse_duration(s, &x) < 0) {
                bad(c, path, "%s is not a duration: use a whole number with s, m, h or d",
                    shown(s, buf));
                return false;
        }
        if (!(k->off && x == 0) && out_of_range(c, path, k, x))
                return false;
        if (k->step && x % k->step) {
                orch_tpl_format(k->unit, x, buf);
                bad(c, path, "%s is not a whole number of %s", buf, k->step_name);
                return false;
        }
        *out = x;
        return true;
}

/* ---- tables of known keys ---------------------------------------------------- */

typedef void (*field_fn)(pctx *c, const char *path, json_t *v);
typedef struct field {
        const char *key;
        field_fn fn;
} field;

/* Check each key of obj against the table; a bit per table entry seen. */
static unsigned walk(pctx *c, const char *path, json_t *obj, const field *f, size_t n)
{
        const char *key;
        json_t *v;
        unsigned seen = 0;

        json_object_foreach(obj, key, v) {
                _cleanup_free_ char *p = orch_tpl_path(path, key);
                size_t i = 0;

                while (i < n && strcmp(f[i].key, key) != 0)
                        i++;
                if (i < n) {
                        seen |= 1u << i;
                        f[i].fn(c, p, v);
                        continue;
                }
                hd_buf allowed = HD_BUF_INIT;
                for (i = 0; i < n; i++)
                        hd_buf_appendf(&allowed, "%s%s", i ? ", " : "", f[i].key);
                bad(c, p, "unknown field (allowed: %s)", allowed.data);
                hd_buf_free(&allowed);
        }
        return seen;
}

/* ---- gpus ------------------------------------------------------------------- */

static void f_gpu_count(pctx *c, const char *path, json_t *v)
{
        uint64_t x;

        if (value(c, path, v, &K_GPUS, &x))
                c->t->gpu_count = (unsigned)x;
}

static void f_gpu_model(pctx *c, const char *path, json_t *v)
{
        const char *s = str(c, path, v, GPU_MODEL_MAX);

        if (s && (!*s || !printable(s, false)))
                bad(c, path, "must be 1 to %d printable ASCII characters (\"H100\", \"10de:2330\")",
                    GPU_MODEL_MAX);
        else if (s)
                c->t->gpu_model = hd_strdup(s);
}

static void f_gpu_numa(pctx *c, const char *path, json_t *v)
{
        const char *s = json_string_value(v);

        if (s && strcmp(s, "required") == 0)
                c->t->gpu_numa = ORCH_TEMPLATE_NUMA_REQUIRED;
        else if (!s || strcmp(s, "preferred") != 0)
                bad(c, path, "must be \"required\" or \"preferred\"");
}

static const field gpu_fields[] = {
        {"count", f_gpu_count},
        {"model", f_gpu_model},
        {"numa", f_gpu_numa},
};

static void f_gpus(pctx *c, const char *path, json_t *v)
{
        if (!json_is_object(v))
                bad(c, path, "must be an object such as {\"count\": 1, \"model\": \"H100\"}");
        else
                walk(c, path, v, gpu_fields, HD_ARRAY_SIZE(gpu_fields));
}

/* ---- parameters --------------------------------------------------------------- */

/* {"min": …, "max": …} ({"max": …} only for lifetime, whose min is 1s). */
static void range(pctx *c, const char *path, json_t *v, const kind *k, orch_template_range *r)
{
        bool with_min = k->unit != ORCH_TPL_DURATION, ok = true;
        unsigned seen = 0;
        uint64_t min = k->lo, max = 0;
        const char *key;
        json_t *x;

        if (!json_is_object(v)) {
                bad(c, path, "must be an object such as %s",
                    with_min ? "{\"min\": …, \"max\": …}" : "{\"max\": \"3d\"}");
                return;
        }
        json_object_foreach(v, key, x) {
                _cleanup_free_ char *p = orch_tpl_path(path, key);

                if (with_min && strcmp(key, "min") == 0) {
                        ok = value(c, p, x, k, &min) && ok;
                        seen |= 1;
                } else if (strcmp(key, "max") == 0) {
                        ok = value(c, p, x, k, &max) && ok;
                        seen |= 2;
                } else {
                        bad(c, p, "unknown field (allowed: %s)", with_min ? "min, max" : "max");
                }
        }
        for (unsigned i = with_min ? 0 : 1; i < 2; i++) {
                if (!(seen & (1u << i))) {
                        _cleanup_free_ char *p = orch_tpl_path(path, i ? "max" : "min");
                        bad(c, p, "is required");
                        ok = false;
                }
        }
        if (ok && min > max) {
                char a[ORCH_TPL_VALUE_MAX], b[ORCH_TPL_VALUE_MAX];
                orch_tpl_format(k->unit, min, a);
                orch_tpl_format(k->unit, max, b);
                bad(c, path, "min %s is above max %s", a, b);
                ok = false;
        }
        if (ok)
                *r = (orch_template_range){true, min, max};
}

static void p_vcpus(pctx *c, const char *path, json_t *v)
{
        range(c, path, v, &K_VCPUS, &c->t->params.vcpus);
}

static void p_memory(pctx *c, const char *path, json_t *v)
{
        range(c, path, v, &K_MEMORY, &c->t->params.memory);
}

static void p_disk(pctx *c, const char *path, json_t *v)
{
        range(c, path, v, &K_DISK, &c->t->params.disk);
}

static void p_gpus(pctx *c, const char *path, json_t *v)
{
        range(c, path, v, &K_GPUS, &c->t->params.gpus);
}

static void p_lifetime(pctx *c, const char *path, json_t *v)
{
        range(c, path, v, &K_LIFETIME_MAX, &c->t->params.lifetime);
}

static const field param_fields[] = {
        {"vcpus", p_vcpus}, {"memory", p_memory}, {"disk", p_disk},
        {"gpus", p_gpus},   {"lifetime", p_lifetime},
};

static void f_parameters(pctx *c, const char *path, json_t *v)
{
        if (!json_is_object(v))
                bad(c, path, "must be an object such as {\"disk\": {\"min\": \"50G\", \"max\": \"500G\"}}");
        else
                walk(c, path, v, param_fields, HD_ARRAY_SIZE(param_fields));
}

/* ---- top level ------------------------------------------------------------------ */

static void f_name(pctx *c, const char *path, json_t *v)
{
        const char *s = str(c, path, v, ORCH_TEMPLATE_NAME_MAX);

        if (s && !chars_ok(s, ORCH_TEMPLATE_NAME_MAX, LOWER DIGITS, LOWER DIGITS "-"))
                bad(c, path, "must be 1 to %d lowercase letters, digits and '-', not starting with '-'",
                    ORCH_TEMPLATE_NAME_MAX);
        else if (s)
                c->t->name = hd_strdup(s);
}

static void f_description(pctx *c, const char *path, json_t *v)
{
        const char *s = str(c, path, v, DESCRIPTION_MAX);

        if (s && !printable(s, true))
                bad(c, path, "must not contain control characters other than newline and tab");
        else if (s && *s)
                c->t->description = hd_strdup(s);
}

static void f_image(pctx *c, const char *path, json_t *v)
{
        const char *s = str(c, path, v, 63);

        if (s && !chars_ok(s, 63, LOWER DIGITS, LOWER DIGITS "._-"))
                bad(c, path, "must be 1 to 63 lowercase letters, digits, '.', '_' and '-', "
                             "starting with a letter or digit");
        else if (s)
                c->t->image = hd_strdup(s);
}

static void f_vcpus(pctx *c, const char *path, json_t *v)
{
        uint64_t x;

        if (value(c, path, v, &K_VCPUS, &x))
                c->t->vcpus = (unsigned)x;
}

static void f_memory(pctx *c, const char *path, json_t *v)
{
        value(c, path, v, &K_MEMORY, &c->t->memory);
}

static void f_disk(pctx *c, const char *path, json_t *v)
{
        value(c, path, v, &K_DISK, &c->t->disk);
}

/* A libvirt network name (up to 64) or a Linux bridge name (up to 15). */
static char *ifname(pctx *c, const char *path, json_t *v, size_t max)
{
        const char *s = str(c, path, v, max);

        if (s && !chars_ok(s, max, UPPER LOWER DIGITS "_", UPPER LOWER DIGITS "_.-")) {
                bad(c, path, "must be 1 to %zu letters, digits, '_', '.' and '-', "
                             "not starting with '-' or '.'", max);
                return NULL;
        }
        return s ? hd_strdup(s) : NULL;
}

static void f_network(pctx *c, const char *path, json_t *v)
{
        c->t->network = ifname(c, path, v, 64);
}

static void f_bridge(pctx *c, const char *path, json_t *v)
{
        c->t->bridge = ifname(c, path, v, 15);
}

/* No string inside the user's cloud-config may carry a NUL byte. */
static void no_nul(pctx *c, const char *path, json_t *v)
{
        const char *key;
        size_t i;
        json_t *x;

        if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
                bad(c, path, "must not contain a NUL byte");
        json_object_foreach(v, key, x) {
                _cleanup_free_ char *p = orch_tpl_path(path, key);
                no_nul(c, p, x);
        }
        json_array_foreach(v, i, x) {
                _cleanup_free_ char *p = hd_asprintf("%s[%zu]", path, i);
                no_nul(c, p, x);
        }
}

static void f_cloud_config(pctx *c, const char *path, json_t *v)
{
        size_t before = c->errs->n;
        char *s;

        if (!json_is_object(v)) {
                bad(c, path, "must be an object (it is merged into the cloud-config user-data)");
                return;
        }
        no_nul(c, path, v);
        if (c->errs->n != before || json_object_size(v) == 0)
                return;
        s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        if (!s)
                abort();
        if (strlen(s) > ORCH_TEMPLATE_CLOUD_CONFIG_MAX) {
                bad(c, path, "is %zu bytes as JSON, the limit is %u", strlen(s),
                    ORCH_TEMPLATE_CLOUD_CONFIG_MAX);
                free(s);
                return;
        }
        c->t->cloud_config = s;
}

static void f_startup_script(pctx *c, const char *path, json_t *v)
{
        const char *s = str(c, path, v, ORCH_TEMPLATE_SCRIPT_MAX);

        if (s && strncmp(s, "#!", 2) != 0)
                bad(c, path, "must start with \"#!\" (the agent runs it as a program)");
        else if (s)
                c->t->startup_script = hd_strdup(s);
}

static void f_startup_timeout(pctx *c, const char *path, json_t *v)
{
        value(c, path, v, &K_STARTUP_TIMEOUT, &c->t->startup_timeout);
}

static void f_idle_timeout(pctx *c, const char *path, json_t *v)
{
        value(c, path, v, &K_IDLE, &c->t->idle_timeout);
}

static void f_max_lifetime(pctx *c, const char *path, json_t *v)
{
        value(c, path, v, &K_LIFETIME, &c->t->max_lifetime);
}

static void f_lifetime_action(pctx *c, const char *path, json_t *v)
{
        const char *s = json_string_value(v);

        if (s && strcmp(s, "delete") == 0)
                c->t->lifetime_action = ORCH_TEMPLATE_LIFETIME_DELETE;
        else if (!s || strcmp(s, "stop") != 0)
                bad(c, path, "must be \"stop\" or \"delete\"");
}

static void f_groups(pctx *c, const char *path, json_t *v)
{
        orch_template *t = c->t;
        char buf[48];
        size_t i;
        json_t *x;

        if (!json_is_array(v)) {
                bad(c, path, "must be an array of group names");
                return;
        }
        if (json_array_size(v) > ORCH_TEMPLATE_GROUPS_MAX) {
                bad(c, path, "has %zu groups, the limit is %d", json_array_size(v),
                    ORCH_TEMPLATE_GROUPS_MAX);
                return;
        }
        json_array_foreach(v, i, x) {
                _cleanup_free_ char *p = hd_asprintf("%s[%zu]", path, i);
                const char *s = str(c, p, x, 32);
                bool twice = false;

                if (!s)
                        continue;
                if (!chars_ok(s, 32, LOWER "_", LOWER DIGITS "_-")) {
                        bad(c, p, "%s is not a group name: use 1 to 32 lowercase letters, digits, "
                                  "'_' and '-', starting with a letter or '_'", shown(s, buf));
                        continue;
                }
                for (size_t j = 0; j < t->n_groups && !twice; j++)
                        twice = strcmp(t->groups[j], s) == 0;
                if (twice)
                        bad(c, p, "%s is listed twice", shown(s, buf));
                else
                        orch_strv_push(&t->groups, &t->n_groups, s);
        }
        orch_strv_sort(t->groups, t->n_groups);
}

enum {
        F_NAME, F_DESCRIPTION, F_IMAGE, F_VCPUS, F_MEMORY, F_DISK, F_GPUS, F_NETWORK, F_BRIDGE,
        F_CLOUD_CONFIG, F_STARTUP_SCRIPT, F_STARTUP_TIMEOUT, F_IDLE_TIMEOUT, F_MAX_LIFETIME, F_LIFETIME_ACTION,
        F_GROUPS, F_PARAMETERS,
};

static const field top_fields[] = {
        [F_NAME] = {"name", f_name},
        [F_DESCRIPTION] = {"description", f_description},
        [F_IMAGE] = {"image", f_image},
        [F_VCPUS] = {"vcpus", f_vcpus},
        [F_MEMORY] = {"memory", f_memory},
        [F_DISK] = {"disk", f_disk},
        [F_GPUS] = {"gpus", f_gpus},
        [F_NETWORK] = {"network", f_network},
        [F_BRIDGE] = {"bridge", f_bridge},
        [F_CLOUD_CONFIG] = {"cloud_config", f_cloud_config},
        [F_STARTUP_SCRIPT] = {"startup_script", f_startup_script},
        [F_STARTUP_TIMEOUT] = {"startup_timeout", f_startup_timeout},
        [F_IDLE_TIMEOUT] = {"idle_timeout", f_idle_timeout},
        [F_MAX_LIFETIME] = {"max_lifetime", f_max_lifetime},
        [F_LIFETIME_ACTION] = {"lifetime_action", f_lifetime_action},
        [F_GROUPS] = {"groups", f_groups},
        [F_PARAMETERS] = {"parameters", f_parameters},
};

/* The template's own value must lie in the range its parameter allows. */
static void in_own_range(pctx *c, const char *name, const orch_template_range *r,
                         orch_tpl_unit u, uint64_t v)
{
        char lo[ORCH_TPL_VALUE_MAX], hi[ORCH_TPL_VALUE_MAX], val[ORCH_TPL_VALUE_MAX];
        _cleanup_free_ char *p = hd_asprintf("parameters.%s", name);

        if (!r->set || orch_tpl_has_error(c->errs, name) || (v >= r->min && v <= r->max))
                return;
        orch_tpl_format(u, r->min, lo);
        orch_tpl_format(u, r->max, hi);
        orch_tpl_format(u, v, val);
        bad(c, p, "range %s..%s does not contain the template's own %s %s", lo, hi, name, val);
}

/* Rules between fields, each checked only when its fields are valid. */
static void cross_checks(pctx *c, unsigned seen)
{
        static const unsigned required[] = {F_NAME, F_IMAGE, F_VCPUS, F_MEMORY, F_DISK};
        orch_template *t = c->t;
        bool lifetime_ok = !orch_tpl_has_error(c->errs, "max_lifetime");
        char a[ORCH_TPL_VALUE_MAX], b[ORCH_TPL_VALUE_MAX];

        for (size_t i = 0; i < HD_ARRAY_SIZE(required); i++)
                if (!(seen & (1u << required[i])))
                        bad(c, top_fields[required[i]].key, "is required");
        if ((seen & (1u << F_NETWORK)) && (seen & (1u << F_BRIDGE)))
                bad(c, "network", "give network or bridge, not both (neither: the host's default)");
        in_own_range(c, "vcpus", &t->params.vcpus, ORCH_TPL_COUNT, t->vcpus);
        in_own_range(c, "memory", &t->params.memory, ORCH_TPL_SIZE, t->memory);
        in_own_range(c, "disk", &t->params.disk, ORCH_TPL_SIZE, t->disk);
        in_own_range(c, "gpus", &t->params.gpus, ORCH_TPL_COUNT, t->gpu_count);
        if (t->params.lifetime.set && lifetime_ok && t->max_lifetime == 0)
                bad(c, "parameters.lifetime",
                    "needs max_lifetime, the lifetime of a workspace whose user sets none");
        if (t->params.lifetime.set && t->max_lifetime > t->params.lifetime.max) {
                orch_tpl_format(ORCH_TPL_DURATION, t->params.lifetime.max, a);
                orch_tpl_format(ORCH_TPL_DURATION, t->max_lifetime, b);
                bad(c, "parameters.lifetime", "max %s is below the template's own max_lifetime %s",
                    a, b);
        }
        if ((seen & (1u << F_STARTUP_TIMEOUT)) && !(seen & (1u << F_STARTUP_SCRIPT)) &&
            !orch_tpl_has_error(c->errs, "startup_timeout"))
                bad(c, "startup_timeout", "has no effect without startup_script");
        if (t->lifetime_action == ORCH_TEMPLATE_LIFETIME_DELETE && lifetime_ok && t->max_lifetime == 0)
                bad(c, "lifetime_action", "\"delete\" has no effect without max_lifetime");
}

int orch_template_parse(const char *json_text, size_t len, orch_template **out,
                        orch_template_errors *errs)
{
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(orch_template_freep) orch_template *t = NULL;
        json_error_t jerr;
        pctx c;
        unsigned seen;

        *out = NULL;
        orch_template_errors_clear(errs);
        if (len > ORCH_TEMPLATE_FILE_MAX) {
                orch_tpl_error_add(errs, NULL, "template", "is %zu bytes, the limit is %u", len,
                                   ORCH_TEMPLATE_FILE_MAX);
                return -1;
        }
        root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!root) {
                orch_tpl_error_add(errs, NULL, "json", "line %d, column %d: %s", jerr.line,
                                   jerr.column, jerr.text);
                return -1;
        }
        if (!json_is_object(root)) {
                orch_tpl_error_add(errs, NULL, "template", "must be a JSON object");
                return -1;
        }
        t = hd_malloc0(sizeof(*t));
        c = (pctx){errs, t};
        seen = walk(&c, "", root, top_fields, HD_ARRAY_SIZE(top_fields));
        cross_checks(&c, seen);
        if (errs->n)
                return -1;
        *out = steal_ptr(t);
        return 0;
}

void orch_template_free(orch_template *t)
{
        if (!t)
                return;
        free(t->name);
        free(t->description);
        free(t->image);
        free(t->gpu_model);
        free(t->network);
        free(t->bridge);
        free(t->cloud_config);
        free(t->startup_script);
        orch_strv_free(t->groups, t->n_groups);
        free(t);
}

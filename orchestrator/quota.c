/* quota.c — the pure half of quotas and host capacity: names and checks of
 * limits, which limit applies to a user (its own, else the largest of its
 * groups'), and the refusal messages.  No store, no libvirt (quota.h). */
#include "orchestrator/quota.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/units.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const scope_names[] = {[ORCH_QUOTA_USER] = "user", [ORCH_QUOTA_GROUP] = "group"};

static const char *const kind_names[ORCH_QUOTA__KIND_COUNT] = {
        [ORCH_QUOTA_WORKSPACES] = "workspaces", [ORCH_QUOTA_VCPUS] = "vcpus",
        [ORCH_QUOTA_MEMORY] = "memory_mib",     [ORCH_QUOTA_DISK] = "disk_gib",
        [ORCH_QUOTA_GPUS] = "gpus",
};

const char *orch_quota_scope_name(orch_quota_scope s)
{
        return (unsigned)s <= ORCH_QUOTA_GROUP ? scope_names[s] : NULL;
}

const char *orch_quota_kind_name(orch_quota_kind k)
{
        return (unsigned)k < ORCH_QUOTA__KIND_COUNT ? kind_names[k] : NULL;
}

void orch_quota_set_clear(orch_quota_set *s)
{
        if (!s)
                return;
        free(s->name);
        for (size_t i = 0; i < s->n_limits; i++)
                free(s->limits[i].gpu_model);
        free(s->limits);
        memset(s, 0, sizeof(*s));
}

void orch_quota_set_list_free(orch_quota_set_list *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->count; i++)
                orch_quota_set_clear(&l->items[i]);
        free(l->items);
        memset(l, 0, sizeof(*l));
}

void orch_quota_report_free(orch_quota_report *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->count; i++) {
                free(r->items[i].gpu_model);
                free(r->items[i].source_name);
        }
        free(r->items);
        memset(r, 0, sizeof(*r));
}

/* ---- names and limits ----------------------------------------------------------- */

int orch_quota_name_check(const char *what, const char *name, hd_error *err)
{
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n > ORCH_QUOTA_NAME_MAX ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") != n ||
            strchr(".-@", name[0]))
                return hd_error_set(err, HD_E_INVALID,
                                    "%s name '%.64s' must be 1-64 letters, digits, '.', '_', '-' or '@', "
                                    "not starting with '.', '-' or '@'",
                                    what, name ? name : "");
        return 0;
}

int orch_quota_model_check(const char *model, hd_error *err)
{
        size_t n = model ? strlen(model) : 0;

        if (n == 0 || n > ORCH_QUOTA_MODEL_MAX ||
            strspn(model, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._:-") != n ||
            model[0] == ' ' || model[n - 1] == ' ')
                return hd_error_set(err, HD_E_INVALID,
                                    "GPU model '%.64s' must be 1-64 letters, digits, ' ', '.', '_', ':' or '-' "
                                    "(a model name such as H100, a vendor:device id such as 10de:2330, or any)",
                                    model ? model : "");
        return 0;
}

/* Kinds in enum order, GPU models by name (case-insensitively). */
static int limit_order(const void *a, const void *b)
{
        const orch_quota_limit *x = a, *y = b;

        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        if (x->kind != ORCH_QUOTA_GPUS)
                return 0;
        return strcasecmp(x->gpu_model, y->gpu_model);
}

/* The largest limit of each kind (1 EiB of memory or disk). */
static const uint64_t value_max[ORCH_QUOTA__KIND_COUNT] = {
        [ORCH_QUOTA_WORKSPACES] = 1000000, [ORCH_QUOTA_VCPUS] = 1000000, [ORCH_QUOTA_MEMORY] = 1ull << 40,
        [ORCH_QUOTA_DISK] = 1ull << 30,    [ORCH_QUOTA_GPUS] = 1000000,
};

int orch_quota_limits_check(orch_quota_limit *limits, size_t n, hd_error *err)
{
        if (n == 0)
                return hd_error_set(err, HD_E_INVALID,
                                    "give at least one limit (workspaces, vcpus, memory_mib, disk_gib or gpus); "
                                    "to remove them all, delete the quota");
        if (n > ORCH_QUOTA_LIMITS_MAX)
                return hd_error_set(err, HD_E_INVALID, "%zu limits: at most %d may be set on one user or group", n,
                                    ORCH_QUOTA_LIMITS_MAX);
        for (size_t i = 0; i < n; i++) {
                if ((unsigned)limits[i].kind >= ORCH_QUOTA__KIND_COUNT)
                        return hd_error_set(err, HD_E_INVALID, "unknown kind of limit %d", (int)limits[i].kind);
                if (limits[i].kind == ORCH_QUOTA_GPUS && orch_quota_model_check(limits[i].gpu_model, err) < 0)
                        return -1;
                if (limits[i].value > value_max[limits[i].kind])
                        return hd_error_set(err, HD_E_INVALID, "%s: %llu is above the largest limit, %llu",
                                            orch_quota_kind_name(limits[i].kind),
                                            (unsigned long long)limits[i].value,
                                            (unsigned long long)value_max[limits[i].kind]);
        }
        qsort(limits, n, sizeof(*limits), limit_order);
        for (size_t i = 1; i < n; i++)
                if (limit_order(&limits[i - 1], &limits[i]) == 0)
                        return limits[i].kind == ORCH_QUOTA_GPUS
                                       ? hd_error_set(err, HD_E_INVALID, "GPU model '%s' is given twice",
                                                      limits[i].gpu_model)
                                       : hd_error_set(err, HD_E_INVALID, "%s is given twice",
                                                      orch_quota_kind_name(limits[i].kind));
        return 0;
}

/* ---- which limit applies ------------------------------------------------------------ */

static bool in_groups(const char *name, const char *const *groups, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(groups[i], name) == 0)
                        return true;
        return false;
}

static bool same_resource(const orch_quota_entry *e, const orch_quota_limit *l)
{
        return e->kind == l->kind && (l->kind != ORCH_QUOTA_GPUS || strcasecmp(e->gpu_model, l->gpu_model) == 0);
}

static orch_quota_entry *add_entry(orch_quota_report *r, orch_quota_kind kind, const char *model)
{
        orch_quota_entry *e;

        r->items = realloc(r->items, (r->count + 1) * sizeof(*r->items));
        if (!r->items)
                abort();
        e = &r->items[r->count++];
        *e = (orch_quota_entry){.kind = kind, .gpu_model = model ? hd_strdup(model) : NULL};
        return e;
}

static orch_quota_entry *find_entry(orch_quota_report *r, const orch_quota_limit *l)
{
        for (size_t i = 0; i < r->count; i++)
                if (same_resource(&r->items[i], l))
                        return &r->items[i];
        return NULL;
}

/* Take l from set s into e when it wins: the user's own always; a group's
 * over no limit or a smaller group limit (equal: the group first by name). */
static void offer(orch_quota_entry *e, const orch_quota_set *s, const orch_quota_limit *l)
{
        bool wins;

        if (!e->limited)
                wins = true;
        else if (e->source == ORCH_QUOTA_USER)
                wins = false;
        else if (s->scope == ORCH_QUOTA_USER)
                wins = true;
        else
                wins = l->value > e->limit || (l->value == e->limit && strcmp(s->name, e->source_name) < 0);
        if (!wins)
                return;
        e->limited = true;
        e->limit = l->value;
        e->source = s->scope;
        free(e->source_name);
        e->source_name = hd_strdup(s->name);
}

/* Entries after the fixed five, by GPU model. */
static int entry_order(const void *a, const void *b)
{
        const orch_quota_entry *x = a, *y = b;

        return strcasecmp(x->gpu_model, y->gpu_model);
}

void orch_quota_resolve(const char *user, const char *const *groups, size_t n_groups,
                        const orch_quota_set *sets, size_t n_sets, orch_quota_report *out)
{
        static const orch_quota_kind fixed[] = {ORCH_QUOTA_WORKSPACES, ORCH_QUOTA_VCPUS, ORCH_QUOTA_MEMORY,
                                                ORCH_QUOTA_DISK, ORCH_QUOTA_GPUS};

        *out = (orch_quota_report){0};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
                add_entry(out, fixed[i], fixed[i] == ORCH_QUOTA_GPUS ? ORCH_QUOTA_ANY_GPU : NULL);
        for (size_t i = 0; i < n_sets; i++) {
                const orch_quota_set *s = &sets[i];

                if (s->scope == ORCH_QUOTA_USER ? strcmp(s->name, user) != 0
                                                 : !in_groups(s->name, groups, n_groups))
                        continue;
                for (size_t k = 0; k < s->n_limits; k++) {
                        const orch_quota_limit *l = &s->limits[k];
                        orch_quota_entry *e = find_entry(out, l);

                        if (!e)
                                e = add_entry(out, l->kind, l->gpu_model);
                        offer(e, s, l);
                }
        }
        qsort(out->items + 5, out->count - 5, sizeof(*out->items), entry_order);
}

/* ---- refusals --------------------------------------------------------------------- */

/* An amount as the messages write it: sizes with a unit, counts bare. */
static void amount(orch_quota_kind kind, uint64_t v, char *buf, size_t len)
{
        if (kind == ORCH_QUOTA_MEMORY)
                hd_format_size(v << 20, buf, len);
        else if (kind == ORCH_QUOTA_DISK)
                hd_format_size(v << 30, buf, len);
        else
                snprintf(buf, len, "%llu", (unsigned long long)v);
}

int orch_quota_check(const orch_quota_report *r, hd_error *err)
{
        static const char *const what[ORCH_QUOTA__KIND_COUNT] = {
                [ORCH_QUOTA_WORKSPACES] = "workspace quota", [ORCH_QUOTA_VCPUS] = "vCPU quota",
                [ORCH_QUOTA_MEMORY] = "memory quota",        [ORCH_QUOTA_DISK] = "disk quota",
        };

        for (size_t i = 0; i < r->count; i++) {
                const orch_quota_entry *e = &r->items[i];
                char used[32], asked[32], limit[32];
                _cleanup_free_ char *title = NULL;
                bool freed_by_stop = e->kind != ORCH_QUOTA_WORKSPACES && e->kind != ORCH_QUOTA_DISK;

                if (!e->limited || e->requested == 0 || e->used + e->requested <= e->limit)
                        continue;
                amount(e->kind, e->used, used, sizeof(used));
                amount(e->kind, e->requested, asked, sizeof(asked));
                amount(e->kind, e->limit, limit, sizeof(limit));
                if (e->kind == ORCH_QUOTA_GPUS && strcasecmp(e->gpu_model, ORCH_QUOTA_ANY_GPU) == 0)
                        title = hd_strdup("GPU quota (any model)");
                else if (e->kind == ORCH_QUOTA_GPUS)
                        title = hd_asprintf("GPU quota for %s", e->gpu_model);
                else
                        title = hd_strdup(what[e->kind]);
                return hd_error_set(err, HD_E_FORBIDDEN,
                                    "%s: %s in use + %s requested > %s (limit of %s %s); %s a workspace, or ask "
                                    "for a higher limit",
                                    title, used, asked, limit, orch_quota_scope_name(e->source), e->source_name,
                                    freed_by_stop ? "stop or delete" : "delete");
        }
        return 0;
}

/* ---- host capacity ------------------------------------------------------------------ */

uint64_t orch_host_vcpu_limit(const orch_host_capacity *c)
{
        if (!c->cpus)
                return UINT64_MAX;
        return (uint64_t)((double)c->cpus * c->vcpu_overcommit + 1e-9);
}

uint64_t orch_host_memory_limit(const orch_host_capacity *c)
{
        uint64_t left;

        if (!c->memory_mib)
                return UINT64_MAX;
        left = c->memory_mib > c->reserved_mib ? c->memory_mib - c->reserved_mib : 0;
        return (uint64_t)((double)left * c->memory_overcommit + 1e-9);
}

int orch_host_check(const orch_host_capacity *c, uint64_t vcpus_used, unsigned vcpus_requested,
                    uint64_t memory_used_mib, uint64_t memory_requested_mib, hd_error *err)
{
        uint64_t vmax = orch_host_vcpu_limit(c), mmax = orch_host_memory_limit(c);
        char used[32], asked[32], limit[32], host[32], reserved[32];

        if (vcpus_used + vcpus_requested > vmax)
                return hd_error_set(err, HD_E_NO_RESOURCES,
                                    "host vCPU capacity: %llu in use + %u requested > %llu (%u CPUs x "
                                    "vcpu_overcommit %g); try fewer vCPUs or later",
                                    (unsigned long long)vcpus_used, vcpus_requested, (unsigned long long)vmax,
                                    c->cpus, c->vcpu_overcommit);
        if (memory_used_mib + memory_requested_mib > mmax) {
                hd_format_size(memory_used_mib << 20, used, sizeof(used));
                hd_format_size(memory_requested_mib << 20, asked, sizeof(asked));
                hd_format_size(mmax << 20, limit, sizeof(limit));
                hd_format_size(c->memory_mib << 20, host, sizeof(host));
                hd_format_size(c->reserved_mib << 20, reserved, sizeof(reserved));
                return hd_error_set(err, HD_E_NO_RESOURCES,
                                    "host memory capacity: %s in use + %s requested > %s ((%s - reserved_memory "
                                    "%s) x memory_overcommit %g); try less memory or later",
                                    used, asked, limit, host, reserved, c->memory_overcommit);
        }
        return 0;
}

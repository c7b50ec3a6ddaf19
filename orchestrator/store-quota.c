/* store-quota.c — the backend-neutral half of quotas and admission: the
 * rule every backend applies inside its transaction (use counted from the
 * facts it read, the limits resolved, the refusals), argument checks, and
 * the public quota functions that dispatch to a backend (store-backend.h). */
#include "orchestrator/store-backend.h"

#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- the admission rule --------------------------------------------------------- */

/* How many of rows a GPU limit of model counts ("any": all of them). */
static uint64_t gpus_matching(const orch_gpu_row *rows, size_t n, const char *model)
{
        bool any = strcasecmp(model, ORCH_QUOTA_ANY_GPU) == 0;
        uint64_t count = 0;

        for (size_t i = 0; i < n; i++)
                count += any || orch_gpu_row_matches(&rows[i], model);
        return count;
}

void orch_admission_report(const orch_admission_facts *f, const orch_admission_ask *ask,
                           orch_quota_report *out)
{
        static const orch_admission_ask none = {0};

        if (!ask)
                ask = &none;
        orch_quota_resolve(f->owner, f->groups, f->n_groups, f->sets, f->n_sets, out);
        for (size_t i = 0; i < out->count; i++) {
                orch_quota_entry *e = &out->items[i];

                switch (e->kind) {
                case ORCH_QUOTA_WORKSPACES:
                        e->used = f->workspaces;
                        e->requested = ask->create;
                        break;
                case ORCH_QUOTA_VCPUS:
                        e->used = f->vcpus;
                        e->requested = ask->vcpus;
                        break;
                case ORCH_QUOTA_MEMORY:
                        e->used = f->memory_mib;
                        e->requested = ask->memory_mib;
                        break;
                case ORCH_QUOTA_DISK:
                        e->used = f->disk_gib;
                        e->requested = ask->create ? ask->disk_gib : 0;
                        break;
                default:
                        e->used = gpus_matching(f->gpus, f->n_gpus, e->gpu_model);
                        e->requested = gpus_matching(ask->gpus, ask->n_gpus, e->gpu_model);
                        break;
                }
        }
}

int orch_admission_decide(const orch_admission_facts *f, const orch_admission_ask *ask,
                          const orch_host_capacity *host, hd_error *err)
{
        orch_quota_report r;
        int ret;

        orch_admission_report(f, ask, &r);
        ret = orch_quota_check(&r, err);
        orch_quota_report_free(&r);
        if (ret < 0 || !host)
                return ret;
        return orch_host_check(host, f->host_vcpus, ask->vcpus, f->host_memory_mib, ask->memory_mib, err);
}

/* ---- public functions --------------------------------------------------------------- */

static int subject_check(orch_quota_scope scope, const char *name, hd_error *err)
{
        if (scope != ORCH_QUOTA_USER && scope != ORCH_QUOTA_GROUP)
                return hd_error_set(err, HD_E_INVALID, "a quota is set on a user or a group");
        return orch_quota_name_check(orch_quota_scope_name(scope), name, err);
}

int orch_store_quota_set(orch_store *st, orch_quota_scope scope, const char *name,
                         orch_quota_limit *limits, size_t n, hd_error *err)
{
        if (subject_check(scope, name, err) < 0 || orch_quota_limits_check(limits, n, err) < 0)
                return -1;
        return st->ops->quota_set(st, scope, name, limits, n, (int64_t)time(NULL), err);
}

int orch_store_quota_delete(orch_store *st, orch_quota_scope scope, const char *name,
                            hd_error *err)
{
        if (subject_check(scope, name, err) < 0)
                return -1;
        return st->ops->quota_delete(st, scope, name, err);
}

int orch_store_quota_list(orch_store *st, orch_quota_set_list *out, hd_error *err)
{
        *out = (orch_quota_set_list){0};
        return st->ops->quota_list(st, NULL, ORCH_QUOTA_USER, out, err);
}

int orch_store_quota_get(orch_store *st, orch_quota_scope scope, const char *name,
                         orch_quota_set *out, hd_error *err)
{
        orch_quota_set_list l = {0};

        *out = (orch_quota_set){0};
        if (subject_check(scope, name, err) < 0 || st->ops->quota_list(st, name, scope, &l, err) < 0)
                return -1;
        if (l.count == 0)
                return hd_error_set(err, HD_E_NOT_FOUND, "%s %s has no quota set",
                                    orch_quota_scope_name(scope), name);
        *out = l.items[0];
        l.items[0] = (orch_quota_set){0};
        orch_quota_set_list_free(&l);
        return 0;
}

int orch_store_quota_report(orch_store *st, const char *user, const char *const *groups,
                            size_t n_groups, orch_quota_report *out, hd_error *err)
{
        *out = (orch_quota_report){0};
        if (!user || !*user)
                return hd_error_set(err, HD_E_INVALID, "a user is required");
        return st->ops->quota_report(st, user, groups, n_groups, out, err);
}

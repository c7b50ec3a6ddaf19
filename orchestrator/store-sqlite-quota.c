/* store-sqlite-quota.c — the sqlite backend's quotas: the limits set on
 * users and groups (table quotas, one row per limit), the facts an
 * admission needs read inside the transaction that inserts a workspace or
 * moves it to starting, the GPU claim in that same transaction, and the
 * report of one user's limits and use.  The rule itself is store-quota.c's. */
#include "orchestrator/store-sqlite.h"

#include "common/buf.h"

#include <string.h>
#include <strings.h>

#define GPU_PREFIX "gpus:"

/* ---- limits ------------------------------------------------------------------------ */

/* The resource column of a limit: a kind's name, or "gpus:<model>". */
static char *resource_of(const orch_quota_limit *l)
{
        if (l->kind == ORCH_QUOTA_GPUS)
                return hd_asprintf(GPU_PREFIX "%s", l->gpu_model);
        return hd_strdup(orch_quota_kind_name(l->kind));
}

static int limit_of(const char *resource, orch_quota_limit *l, hd_error *err)
{
        if (strncasecmp(resource, GPU_PREFIX, strlen(GPU_PREFIX)) == 0) {
                l->kind = ORCH_QUOTA_GPUS;
                l->gpu_model = hd_strdup(resource + strlen(GPU_PREFIX));
                return 0;
        }
        for (int k = 0; k < ORCH_QUOTA_GPUS; k++)
                if (strcmp(resource, orch_quota_kind_name((orch_quota_kind)k)) == 0) {
                        l->kind = (orch_quota_kind)k;
                        return 0;
                }
        return hd_error_set(err, HD_E_STORE, "store: unknown quota resource '%.64s' (written by a newer hostd?)",
                            resource);
}

static int quota_set_tx(sq_store *s, orch_quota_scope scope, const char *name, const orch_quota_limit *limits,
                        size_t n, int64_t now, hd_error *err)
{
        const char *op = "setting a quota";
        _cleanup_stmt_ sqlite3_stmt *del = sq_prep(s, "DELETE FROM quotas WHERE scope = ? AND name = ?", op, err);
        _cleanup_stmt_ sqlite3_stmt *ins = NULL;

        if (!del)
                return -1;
        bind_text(del, 1, orch_quota_scope_name(scope));
        bind_text(del, 2, name);
        if (sq_done(s, del, op, err) < 0)
                return -1;
        ins = sq_prep(s, "INSERT INTO quotas (scope, name, resource, value, updated_at) VALUES (?, ?, ?, ?, ?)", op,
                      err);
        if (!ins)
                return -1;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *resource = resource_of(&limits[i]);

                sqlite3_reset(ins);
                bind_text(ins, 1, orch_quota_scope_name(scope));
                bind_text(ins, 2, name);
                bind_text(ins, 3, resource);
                sqlite3_bind_int64(ins, 4, (sqlite3_int64)limits[i].value);
                sqlite3_bind_int64(ins, 5, now);
                if (sq_done(s, ins, op, err) < 0)
                        return -1;
        }
        return 0;
}

int sq_quota_set(orch_store *st, orch_quota_scope scope, const char *name, const orch_quota_limit *limits,
                 size_t n, int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "setting a quota", err, quota_set_tx(s, scope, name, limits, n, now, err));
}

static int quota_delete_tx(sq_store *s, orch_quota_scope scope, const char *name, hd_error *err)
{
        const char *op = "removing a quota";
        _cleanup_stmt_ sqlite3_stmt *del = sq_prep(s, "DELETE FROM quotas WHERE scope = ? AND name = ?", op, err);

        if (!del)
                return -1;
        bind_text(del, 1, orch_quota_scope_name(scope));
        bind_text(del, 2, name);
        if (sq_done(s, del, op, err) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return hd_error_set(err, HD_E_NOT_FOUND, "%s %s has no quota set", orch_quota_scope_name(scope),
                                    name);
        return 0;
}

int sq_quota_delete(orch_store *st, orch_quota_scope scope, const char *name, hd_error *err)
{
        return SQ_IN_TX(st, "removing a quota", err, quota_delete_tx(s, scope, name, err));
}

/* Append one row's limit to the last set of out, or start a new set. */
static int add_row(sqlite3_stmt *stmt, orch_quota_set_list *out, hd_error *err)
{
        const char *scope = (const char *)sqlite3_column_text(stmt, 0);
        const char *name = (const char *)sqlite3_column_text(stmt, 1);
        orch_quota_scope sc = scope && strcmp(scope, "group") == 0 ? ORCH_QUOTA_GROUP : ORCH_QUOTA_USER;
        orch_quota_set *set = out->count ? &out->items[out->count - 1] : NULL;
        orch_quota_limit *l;
        int64_t updated = sqlite3_column_int64(stmt, 4);

        if (!set || set->scope != sc || strcmp(set->name, name ? name : "") != 0) {
                out->items = realloc(out->items, (out->count + 1) * sizeof(*out->items));
                if (!out->items)
                        abort();
                set = &out->items[out->count++];
                *set = (orch_quota_set){.scope = sc, .name = hd_strdup(name ? name : "")};
        }
        set->limits = realloc(set->limits, (set->n_limits + 1) * sizeof(*set->limits));
        if (!set->limits)
                abort();
        l = &set->limits[set->n_limits++];
        *l = (orch_quota_limit){.value = (uint64_t)sqlite3_column_int64(stmt, 3)};
        if (updated > set->updated_at)
                set->updated_at = updated;
        return limit_of((const char *)sqlite3_column_text(stmt, 2), l, err);
}

/* Every set (name NULL) or one; users first, then groups, by name. */
static int quota_list_tx(sq_store *s, const char *name, orch_quota_scope scope, orch_quota_set_list *out,
                         hd_error *err)
{
        const char *op = "listing quotas";
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "SELECT scope, name, resource, value, updated_at FROM quotas"
                " WHERE ?1 IS NULL OR (name = ?1 AND scope = ?2)"
                " ORDER BY scope = 'group', name, resource",
                op, err);
        int rc;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, name);
        bind_text(stmt, 2, orch_quota_scope_name(scope));
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                if (add_row(stmt, out, err) < 0)
                        return -1;
        if (rc != SQLITE_DONE)
                return sq_error(s, rc, op, err);
        for (size_t i = 0; i < out->count; i++)
                if (orch_quota_limits_check(out->items[i].limits, out->items[i].n_limits, err) < 0)
                        return hd_error_prefix(err, "store: the quota of %s %s",
                                               orch_quota_scope_name(out->items[i].scope), out->items[i].name);
        return 0;
}

int sq_quota_list(orch_store *st, const char *name, orch_quota_scope scope, orch_quota_set_list *out,
                  hd_error *err)
{
        SQ_LOCKED(st);
        int r = quota_list_tx(s, name, scope, out, err);

        if (r < 0)
                orch_quota_set_list_free(out);
        return r;
}

/* ---- the facts of an admission ------------------------------------------------------ */

/* What a backend read for one admission; freed by facts_clear. */
typedef struct facts {
        orch_admission_facts f;
        orch_quota_set_list sets;
        orch_gpu_row_list gpus;
        char **groups;
        size_t n_groups;
} facts;

static void facts_clear(facts *x)
{
        orch_quota_set_list_free(&x->sets);
        orch_gpu_row_list_free(&x->gpus);
        for (size_t i = 0; i < x->n_groups; i++)
                free(x->groups[i]);
        free(x->groups);
}

/* ",pending,provisioning,…," for instr() against ',' || state || ','. */
static char *state_set(unsigned bits)
{
        hd_buf b = HD_BUF_INIT;

        hd_buf_append(&b, ",");
        for (unsigned i = 0; i < ORCH_WS__STATE_COUNT; i++)
                if (bits & ORCH_WS_BIT(i))
                        hd_buf_appendf(&b, "%s,", orch_ws_state_name((orch_ws_state)i));
        return hd_buf_steal(&b);
}

/* Sums over every workspace but `except` (NULL: none). */
static int read_use(sq_store *s, const char *owner, const char *except, orch_admission_facts *f, const char *op,
                    hd_error *err)
{
        _cleanup_free_ char *existing = state_set(ORCH_QUOTA_EXISTING), *holding = state_set(ORCH_QUOTA_HOLDING);
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "SELECT"
                " coalesce(sum(owner = ?1 AND instr(?3, ',' || state || ',') > 0), 0),"
                " coalesce(sum(CASE WHEN owner = ?1 AND instr(?3, ',' || state || ',') > 0 THEN disk_gib END), 0),"
                " coalesce(sum(CASE WHEN owner = ?1 AND instr(?4, ',' || state || ',') > 0 THEN vcpus END), 0),"
                " coalesce(sum(CASE WHEN owner = ?1 AND instr(?4, ',' || state || ',') > 0 THEN memory_mib END), 0),"
                " coalesce(sum(CASE WHEN instr(?4, ',' || state || ',') > 0 THEN vcpus END), 0),"
                " coalesce(sum(CASE WHEN instr(?4, ',' || state || ',') > 0 THEN memory_mib END), 0)"
                " FROM workspaces WHERE id IS NOT ?2",
                op, err);
        int rc;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, owner);
        bind_text(stmt, 2, except);
        bind_text(stmt, 3, existing);
        bind_text(stmt, 4, holding);
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return sq_error(s, rc, op, err);
        f->workspaces = (uint64_t)sqlite3_column_int64(stmt, 0);
        f->disk_gib = (uint64_t)sqlite3_column_int64(stmt, 1);
        f->vcpus = (uint64_t)sqlite3_column_int64(stmt, 2);
        f->memory_mib = (uint64_t)sqlite3_column_int64(stmt, 3);
        f->host_vcpus = (uint64_t)sqlite3_column_int64(stmt, 4);
        f->host_memory_mib = (uint64_t)sqlite3_column_int64(stmt, 5);
        return 0;
}

/* The GPUs held by owner's workspaces but `except` (owner NULL: those held by `except`). */
static int read_held(sq_store *s, const char *owner, const char *except, orch_gpu_row_list *out, const char *op,
                     hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "SELECT g.address, g.vendor_device, g.model, g.numa_node, g.present, g.quarantined,"
                " g.quarantine_reason, a.workspace_id"
                " FROM gpu_assignments a JOIN gpus g ON g.address = a.address"
                " JOIN workspaces w ON w.id = a.workspace_id"
                " WHERE CASE WHEN ?1 IS NULL THEN w.id = ?2 ELSE w.owner = ?1 AND w.id IS NOT ?2 END"
                " ORDER BY g.address",
                op, err);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, owner);
        bind_text(stmt, 2, except);
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items), read_gpu, op, err);
}

/* Read every fact of owner's admission but the groups (x->f.groups is the caller's). */
static int read_facts(sq_store *s, const char *owner, const char *except, facts *x, const char *op,
                      hd_error *err)
{
        if (quota_list_tx(s, NULL, ORCH_QUOTA_USER, &x->sets, err) < 0 ||
            read_use(s, owner, except, &x->f, op, err) < 0 || read_held(s, owner, except, &x->gpus, op, err) < 0)
                return -1;
        x->f.owner = owner;
        x->f.sets = x->sets.items;
        x->f.n_sets = x->sets.count;
        x->f.gpus = x->gpus.items;
        x->f.n_gpus = x->gpus.count;
        return 0;
}

/* ---- admission ------------------------------------------------------------------------- */

/* The row as admission sees it. */
typedef struct ask_row {
        char *owner, *gpu_model, *gpu_numa;
        orch_admission_ask ask;
        unsigned gpu_count;
} ask_row;

static int read_ask_row(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        ask_row *r = item;

        r->owner = col_text(stmt, 0);
        r->ask.vcpus = (unsigned)sqlite3_column_int64(stmt, 1);
        r->ask.memory_mib = (uint64_t)sqlite3_column_int64(stmt, 2);
        r->ask.disk_gib = (uint64_t)sqlite3_column_int64(stmt, 3);
        r->gpu_count = (unsigned)sqlite3_column_int64(stmt, 4);
        r->gpu_model = col_text(stmt, 5);
        r->gpu_numa = col_text(stmt, 6);
        return 0;
}

static void ask_row_clear(ask_row *r)
{
        free(r->owner);
        free(r->gpu_model);
        free(r->gpu_numa);
}

/* Keep the owner's groups on the row, as a JSON array. */
static int keep_groups(sq_store *s, const char *id, const char *const *groups, size_t n, const char *op,
                       hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "UPDATE workspaces SET owner_groups = CASE WHEN ?2 IS NULL THEN '[]'"
                " ELSE json_insert(owner_groups, '$[#]', ?2) END WHERE id = ?1",
                op, err);

        if (!stmt)
                return -1;
        for (size_t i = 0; i <= n; i++) {
                sqlite3_reset(stmt);
                bind_text(stmt, 1, id);
                bind_text(stmt, 2, i ? groups[i - 1] : NULL);
                if (sq_done(s, stmt, op, err) < 0)
                        return -1;
        }
        return 0;
}

static int read_kept_groups(sq_store *s, const char *id, facts *x, const char *op, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "SELECT value FROM json_each((SELECT owner_groups FROM workspaces WHERE id = ?))", op, err);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, id);
        return collect(s, stmt, (void **)&x->groups, &x->n_groups, sizeof(*x->groups), read_text, op, err);
}

/* The quotas but GPUs; the GPU claim; then every quota and the host. */
static int admit(sq_store *s, const char *id, const orch_admission *adm, ask_row *row, facts *x, int64_t now,
                 const char *op, hd_error *err)
{
        _cleanup_gpu_rows_ orch_gpu_row_list claimed = {0};
        char **addresses = NULL;
        size_t n = 0;
        int r;

        if (orch_admission_decide(&x->f, &row->ask, NULL, err) < 0)
                return -1;
        if (row->gpu_count) {
                r = gpu_claim_tx(s, id, row->gpu_count, row->gpu_model, row->gpu_numa, now, &addresses, &n, err);
                orch_gpu_addresses_free(addresses, n);
                if (r < 0 || read_held(s, NULL, id, &claimed, op, err) < 0)
                        return -1;
                row->ask.gpus = claimed.items;
                row->ask.n_gpus = claimed.count;
        }
        r = orch_admission_decide(&x->f, &row->ask, &adm->host, err);
        row->ask.gpus = NULL;
        row->ask.n_gpus = 0;
        return r;
}

int sq_admit_tx(sq_store *s, const char *id, bool create, const orch_admission *adm, int64_t now,
                hd_error *err)
{
        const char *op = create ? "admitting a new workspace" : "admitting a start";
        _cleanup_(facts_clear) facts x = {0};
        _cleanup_(ask_row_clear) ask_row row = {0};
        int r = query_one(s,
                          "SELECT owner, vcpus, memory_mib, disk_gib, gpu_count, gpu_model, gpu_numa"
                          " FROM workspaces WHERE id = ?",
                          id, read_ask_row, &row, op, err);

        if (r != 0)
                return r < 0 ? -1 : hd_error_set(err, HD_E_NOT_FOUND, "no workspace has the id %s", id);
        row.ask.create = create;
        if (create) {
                if (keep_groups(s, id, adm->groups, adm->n_groups, op, err) < 0)
                        return -1;
                x.f.groups = adm->groups;
                x.f.n_groups = adm->n_groups;
        } else {
                if (read_kept_groups(s, id, &x, op, err) < 0)
                        return -1;
                x.f.groups = (const char *const *)x.groups;
                x.f.n_groups = x.n_groups;
        }
        if (read_facts(s, row.owner, id, &x, op, err) < 0)
                return -1;
        return admit(s, id, adm, &row, &x, now, op, err);
}

/* ---- one user's report ------------------------------------------------------------------ */

static int report_tx(sq_store *s, const char *user, const char *const *groups, size_t n_groups,
                     orch_quota_report *out, hd_error *err)
{
        _cleanup_(facts_clear) facts x = {.f = {.groups = groups, .n_groups = n_groups}};

        if (read_facts(s, user, NULL, &x, "reading a user's quota", err) < 0)
                return -1;
        orch_admission_report(&x.f, NULL, out);
        return 0;
}

int sq_quota_report(orch_store *st, const char *user, const char *const *groups, size_t n_groups,
                    orch_quota_report *out, hd_error *err)
{
        return SQ_IN_TX(st, "reading a user's quota", err, report_tx(s, user, groups, n_groups, out, err));
}

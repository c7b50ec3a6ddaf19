/* store-sqlite.h — what the sqlite backend's files share (internal): the
 * handle, its locking and transaction macros, the statement helpers of
 * store-sqlite.c, and the hooks into store-sqlite-users.c and
 * store-sqlite-quota.c. The files of the backend (store-sqlite*.c) are the
 * only ones of hostd that include sqlite3.h. */
#pragma once

#include "orchestrator/store-backend.h"

#include "common/cleanup.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>

/* The schema's migration steps, in order (store-sqlite-schema.c). */
extern const char *const orch_sqlite_migrations[];
extern const size_t orch_sqlite_migration_count;

typedef struct sq_store {
        orch_store base; /* first: an orch_store * is a sq_store * */
        sqlite3 *db;
        pthread_mutex_t lock;
        int version;
} sq_store;

HD_DEFINE_CLEANUP(sqlite3_stmt *, sqlite3_finalize)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

static inline sq_store *sq_lock(orch_store *st)
{
        sq_store *s = (sq_store *)st;

        pthread_mutex_lock(&s->lock);
        return s;
}

static inline void sq_unlockp(sq_store **s)
{
        if (*s)
                pthread_mutex_unlock(&(*s)->lock);
}

/* Every operation starts with this line: the handle's mutex, held until return. */
#define SQ_LOCKED(st) _cleanup_(sq_unlockp) sq_store *s = sq_lock(st)

/* The value of `call`, an int expression that may use `s`, run as one write
 * transaction under the handle's mutex: committed when it gives 0. */
#define SQ_IN_TX(st, op, err, call)                                                  \
        ({                                                                           \
                SQ_LOCKED(st);                                                       \
                tx_begin(s, (op), (err)) < 0 ? -1 : tx_end(s, (call), (op), (err)); \
        })

/* HD_E_STORE naming op and sqlite's message. */
int sq_error(sq_store *s, int rc, const char *op, hd_error *err);
int sq_exec(sq_store *s, const char *sql, const char *op, hd_error *err);
sqlite3_stmt *sq_prep(sq_store *s, const char *sql, const char *op, hd_error *err);
/* Run a statement that returns no row. */
int sq_done(sq_store *s, sqlite3_stmt *stmt, const char *op, hd_error *err);
/* NULL binds NULL; a time of 0 binds NULL. */
void bind_text(sqlite3_stmt *stmt, int i, const char *v);
void bind_time(sqlite3_stmt *stmt, int i, int64_t v);
/* A copy of a text column, or NULL. */
char *col_text(sqlite3_stmt *stmt, int i);
int tx_begin(sq_store *s, const char *op, hd_error *err);
/* Commit when r is 0, roll back otherwise; returns r, or -1 if the commit fails. */
int tx_end(sq_store *s, int r, const char *op, hd_error *err);

/* Step through a query, appending one item per row with read(). */
typedef int (*row_reader)(sqlite3_stmt *stmt, void *item, hd_error *err);
int collect(sq_store *s, sqlite3_stmt *stmt, void **items, size_t *count, size_t item_size, row_reader read,
            const char *op, hd_error *err);
/* Run a query with at most one text parameter (key, may be NULL for none)
 * that answers at most one row, and read() it into item.
 * 0 with a row, 1 without one, -1 on error. */
int query_one(sq_store *s, const char *sql, const char *key, row_reader read, void *item, const char *op,
              hd_error *err);

/* Users and API tokens (store-sqlite-users.c), for the ops table. */
int sq_user_insert(orch_store *st, const orch_user *u, hd_error *err);
int sq_user_get(orch_store *st, const char *name, orch_user *out, hd_error *err);
int sq_user_list(orch_store *st, orch_user_list *out, hd_error *err);
int sq_user_update(orch_store *st, const char *name, const orch_user_update *u, int64_t now, hd_error *err);
int sq_user_delete(orch_store *st, const char *name, hd_error *err);
int sq_user_upsert_login(orch_store *st, const orch_user *login, int64_t now, orch_user *out, hd_error *err);
int sq_token_insert(orch_store *st, const orch_api_token *t, const char *hash, hd_error *err);
int sq_token_get(orch_store *st, bool by_hash, const char *key, orch_api_token *out, char *hash_out,
                 hd_error *err);
int sq_token_list(orch_store *st, const char *owner, orch_api_token_list *out, hd_error *err);
int sq_token_revoke(orch_store *st, const char *id, int64_t now, hd_error *err);
int sq_token_touch(orch_store *st, const char *id, int64_t now, hd_error *err);
int sq_token_admin_exists(orch_store *st, int64_t now, bool *found, hd_error *err);

#define SQ_USER_OPS                                                                        \
        .user_insert = sq_user_insert, .user_get = sq_user_get, .user_list = sq_user_list, \
        .user_update = sq_user_update, .user_delete = sq_user_delete,                      \
        .user_upsert_login = sq_user_upsert_login, .token_insert = sq_token_insert,        \
        .token_get = sq_token_get, .token_list = sq_token_list,                            \
        .token_revoke = sq_token_revoke, .token_touch = sq_token_touch,                    \
        .token_admin_exists = sq_token_admin_exists
typedef int (*row_reader)(sqlite3_stmt *stmt, void *item, hd_error *err);
/* Step through a query, appending one item per row with read(). */
int collect(sq_store *s, sqlite3_stmt *stmt, void **items, size_t *count, size_t item_size,
            row_reader read, const char *op, hd_error *err);
/* At most one row with one text key: 0 with a row, 1 without, -1 on error. */
int query_one(sq_store *s, const char *sql, const char *key, row_reader read, void *item,
              const char *op, hd_error *err);
int read_text(sqlite3_stmt *stmt, void *item, hd_error *err); /* column 0 into a char * */

/* A workspace's state inside a transaction: HD_E_NOT_FOUND when there is none. */
int current_state(sq_store *s, const char *id, orch_ws_state *state, const char *op, hd_error *err);
/* An orch_gpu_row from address, vendor_device, model, numa_node, present,
 * quarantined, quarantine_reason, workspace_id. */
int read_gpu(sqlite3_stmt *stmt, void *item, hd_error *err);
/* orch_store_gpu_claim's body, inside the caller's transaction. */
int gpu_claim_tx(sq_store *s, const char *ws_id, unsigned count, const char *filter,
                 const char *policy, int64_t now, char ***out, size_t *n, hd_error *err);

/* ---- quotas and admission (store-sqlite-quota.c) -------------------------- */

/* Inside the transaction that inserted workspace id (create: keeps
 * adm->groups on the row) or moved it to starting: claim its GPUs and
 * decide admission (quota.h). -1 leaves the caller to roll back. */
int sq_admit_tx(sq_store *s, const char *id, bool create, const orch_admission *adm, int64_t now,
                hd_error *err);

int sq_quota_set(orch_store *st, orch_quota_scope scope, const char *name, const orch_quota_limit *limits,
                 size_t n, int64_t now, hd_error *err);
int sq_quota_delete(orch_store *st, orch_quota_scope scope, const char *name, hd_error *err);
int sq_quota_list(orch_store *st, const char *name, orch_quota_scope scope, orch_quota_set_list *out,
                  hd_error *err);
int sq_quota_report(orch_store *st, const char *user, const char *const *groups, size_t n_groups,
                    orch_quota_report *out, hd_error *err);

/* store-backend.h — what a store backend provides (internal to orchestrator/).
 *
 * store.c owns everything that does not depend on the database: argument
 * checks, ids, times, the state machine, freeing rows. It then calls the
 * backend through this table. A backend embeds `struct orch_store` as its
 * first member and fills `ops`. Each op runs as one transaction, serialized
 * per handle, and commits before it returns 0. Arguments reaching an op are
 * already checked (non-NULL where required). */
#pragma once

#include "orchestrator/store.h"
#include "orchestrator/users.h"

typedef enum orch_ws_key {
        ORCH_WS_BY_ID,
        ORCH_WS_BY_NAME, /* among workspaces not deleted */
} orch_ws_key;

struct orch_store_ops {
        const char *name; /* "sqlite" */
        void (*close)(orch_store *st);
        int (*schema_version)(orch_store *st);

        int (*image_insert)(orch_store *st, const orch_image *img, hd_error *err);
        /* 0 and *out filled, or -1 (HD_E_NOT_FOUND when missing) */
        int (*image_get)(orch_store *st, const char *name, orch_image *out, hd_error *err);
        int (*image_list)(orch_store *st, orch_image_list *out, hd_error *err);
        int (*image_delete)(orch_store *st, const char *name, hd_error *err);

        /* *created as orch_store_template_push(); v->pushed_at is set. */
        int (*template_push)(orch_store *st, const orch_template_version *v, bool *created,
                             hd_error *err);
        /* hash NULL: the current version. */
        int (*template_get)(orch_store *st, const char *name, const char *hash,
                            orch_template_version *out, hd_error *err);
        /* name NULL: the current version of each name; else every version of name. */
        int (*template_list)(orch_store *st, const char *name, orch_template_version_list *out,
                             hd_error *err);
        int (*template_delete)(orch_store *st, const char *name, hd_error *err);

        /* row is complete (id, state pending, times); also logs "created".
         * adm not NULL: admission in the same transaction (sq_admit_tx). */
        int (*ws_insert)(orch_store *st, const orch_workspace *row, const orch_admission *adm,
                         hd_error *err);
        int (*ws_get)(orch_store *st, orch_ws_key key, const char *value, orch_workspace *out,
                      hd_error *err);
        int (*ws_list)(orch_store *st, const orch_ws_filter *f, orch_workspace_list *out,
                       hd_error *err);
        int (*ws_update)(orch_store *st, const char *id, const orch_ws_update *u, int64_t now,
                         hd_error *err);
        /* Must call orch_ws_check_transition() on the state it read inside
         * the transaction, and log the "state" event in that transaction.
         * adm not NULL: admission of a start in the same transaction. */
        int (*ws_transition)(orch_store *st, const char *id, unsigned expected_from,
                             orch_ws_state to, const char *reason, const orch_admission *adm,
                             int64_t now, hd_error *err);
        int (*policy_get)(orch_store *st, const char *id, orch_ws_policy *out, hd_error *err);
        int (*policy_set)(orch_store *st, const char *id, const orch_ws_policy *p, int64_t now,
                          hd_error *err);
        /* 1 found, 0 none. */
        int (*startup_get)(orch_store *st, const char *id, bool with_output, orch_ws_startup *out,
                           hd_error *err);
        int (*startup_set)(orch_store *st, const char *id, const orch_ws_startup *s, int64_t now,
                           hd_error *err);
        /* Releases the workspace's GPUs in the same transaction. */
        int (*ws_purge)(orch_store *st, const char *id, int64_t now, hd_error *err);

        int (*event_add)(orch_store *st, const char *id, const char *kind, const char *reason,
                         const char *detail_json, int64_t now, hd_error *err);
        /* id NULL: every workspace's events. */
        int (*event_list)(orch_store *st, const char *id, int64_t after_id, size_t limit,
                          orch_event_list *out, hd_error *err);
        int (*event_last_id)(orch_store *st, int64_t *out, hd_error *err);

        int (*gpu_sync)(orch_store *st, const orch_gpu_row *usable, size_t n, int64_t now,
                        hd_error *err);
        /* Must read every GPU with its holder inside the transaction and
         * let orch_gpu_choose() pick. */
        int (*gpu_claim)(orch_store *st, const char *ws_id, unsigned count, const char *filter,
                         const char *policy, int64_t now, char ***out, size_t *n,
                         hd_error *err);
        int (*gpu_release)(orch_store *st, const char *ws_id, int64_t now, hd_error *err);
        int (*gpu_list)(orch_store *st, orch_gpu_row_list *out, hd_error *err);
        int (*gpu_held)(orch_store *st, const char *ws_id, char ***out, size_t *n,
                        hd_error *err);
        /* reason NULL: clear the quarantine. HD_E_NOT_FOUND for an unknown address. */
        int (*gpu_quarantine)(orch_store *st, const char *address, const char *reason,
                              int64_t now, hd_error *err);

        /* Users and API tokens (users.h); records arrive checked, times set. */
        int (*user_insert)(orch_store *st, const orch_user *u, hd_error *err);
        int (*user_get)(orch_store *st, const char *name, orch_user *out, hd_error *err);
        int (*user_list)(orch_store *st, orch_user_list *out, hd_error *err);
        int (*user_update)(orch_store *st, const char *name, const orch_user_update *u, int64_t now,
                           hd_error *err);
        /* Deletes the user's tokens in the same transaction. */
        int (*user_delete)(orch_store *st, const char *name, hd_error *err);
        /* login: name, email, groups, roles (for a new record only); *out
         * gets the record as stored. */
        int (*user_upsert_login)(orch_store *st, const orch_user *login, int64_t now, orch_user *out,
                                 hd_error *err);
        /* t is complete; hash is the token's. Checks, in the transaction, that
         * the owner exists and no live token of the owner has the name. */
        int (*token_insert)(orch_store *st, const orch_api_token *t, const char *hash, hd_error *err);
        /* By id, or by hash (by_hash); hash_out (65 bytes, may be NULL) gets
         * the stored hash. HD_E_NOT_FOUND when there is none. */
        int (*token_get)(orch_store *st, bool by_hash, const char *key, orch_api_token *out, char *hash_out,
                         hd_error *err);
        int (*token_list)(orch_store *st, const char *owner, orch_api_token_list *out, hd_error *err);
        int (*token_revoke)(orch_store *st, const char *id, int64_t now, hd_error *err);
        /* last_used_at = now, unless it is already within ORCH_TOKEN_TOUCH_S of now. */
        int (*token_touch)(orch_store *st, const char *id, int64_t now, hd_error *err);
        /* Whether an enabled user with role admin holds a live token without scopes. */
        int (*token_admin_exists)(orch_store *st, int64_t now, bool *found, hd_error *err);
        /* Replace the limits set on one user or group (limits checked and sorted). */
        int (*quota_set)(orch_store *st, orch_quota_scope scope, const char *name,
                         const orch_quota_limit *limits, size_t n, int64_t now, hd_error *err);
        /* HD_E_NOT_FOUND when it has none. */
        int (*quota_delete)(orch_store *st, orch_quota_scope scope, const char *name, hd_error *err);
        /* name NULL: every set; else that one (scope) only. */
        int (*quota_list)(orch_store *st, const char *name, orch_quota_scope scope,
                          orch_quota_set_list *out, hd_error *err);
        /* orch_admission_report() of the user's facts read in one transaction. */
        int (*quota_report)(orch_store *st, const char *user, const char *const *groups,
                            size_t n_groups, orch_quota_report *out, hd_error *err);
};

struct orch_store {
        const struct orch_store_ops *ops;
        void (*on_commit)(void *ctx); /* orch_store_on_commit(); store.c calls it */
        void *on_commit_ctx;
};

/* r, after telling the commit listener when r is 0 (store.c, store-gpu.c). */
int orch_store_committed(orch_store *st, int r);

/* The one check of a move, for backends: 0, or -1 with HD_E_CONFLICT naming
 * the workspace and both states. */
int orch_ws_check_transition(const char *id, orch_ws_state from, unsigned expected_from,
                             orch_ws_state to, hd_error *err);

/* The one allocation rule (store-gpu.c), for backends, inside the claim's
 * transaction: rows are every known GPU with its holder, by address; fills
 * pick[0..count) with indexes into rows, ascending, or returns -1 with
 * HD_E_NO_RESOURCES (messages: store.h). */
int orch_gpu_choose(const orch_gpu_row *rows, size_t n, unsigned count,
                    const char *model_filter, const char *numa_policy, size_t *pick,
                    hd_error *err);

/* ---- admission (store-quota.c), for backends ------------------------------ *
 *
 * A backend reads these facts inside the transaction that inserts a row or
 * moves it to starting, then lets orch_admission_decide() rule: once before
 * it claims the row's GPUs (quotas other than GPUs), once after (everything,
 * with the GPUs claimed, and the host's capacity). */
typedef struct orch_admission_facts {
        const char *owner;
        const char *const *groups;    /* the owner's */
        size_t n_groups;
        const orch_quota_set *sets;   /* set on the owner or one of its groups */
        size_t n_sets;
        uint64_t workspaces, disk_gib; /* the owner's other workspaces, not deleting or deleted */
        uint64_t vcpus, memory_mib;   /* the owner's other workspaces in ORCH_QUOTA_HOLDING */
        const orch_gpu_row *gpus;     /* the GPUs the owner's other workspaces hold */
        size_t n_gpus;
        uint64_t host_vcpus, host_memory_mib; /* every other workspace in ORCH_QUOTA_HOLDING */
} orch_admission_facts;

/* What one request asks for. */
typedef struct orch_admission_ask {
        bool create;                  /* false: a start, which adds no workspace and no disk */
        unsigned vcpus;
        uint64_t memory_mib, disk_gib;
        const orch_gpu_row *gpus;     /* the GPUs claimed for it; none before the claim */
        size_t n_gpus;
} orch_admission_ask;

/* The owner's limits with use (and ask's amounts when ask is not NULL). */
void orch_admission_report(const orch_admission_facts *f, const orch_admission_ask *ask,
                           orch_quota_report *out);
/* 0 or -1 with the refusal (quota.h); host NULL: quotas only. */
int orch_admission_decide(const orch_admission_facts *f, const orch_admission_ask *ask,
                          const orch_host_capacity *host, hd_error *err);

/* Checks a new workspace's GPU request (count, model, NUMA policy). */
int orch_gpu_request_check(const orch_workspace *spec, hd_error *err);

/* Backends. */
orch_store *orch_store_sqlite_open(const char *path, hd_error *err);

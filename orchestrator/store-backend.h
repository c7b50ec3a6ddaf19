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

        /* row is complete (id, state pending, times); also logs "created". */
        int (*ws_insert)(orch_store *st, const orch_workspace *row, hd_error *err);
        int (*ws_get)(orch_store *st, orch_ws_key key, const char *value, orch_workspace *out,
                      hd_error *err);
        int (*ws_list)(orch_store *st, const orch_ws_filter *f, orch_workspace_list *out,
                       hd_error *err);
        int (*ws_update)(orch_store *st, const char *id, const orch_ws_update *u, int64_t now,
                         hd_error *err);
        /* Must call orch_ws_check_transition() on the state it read inside
         * the transaction, and log the "state" event in that transaction. */
        int (*ws_transition)(orch_store *st, const char *id, unsigned expected_from,
                             orch_ws_state to, const char *reason, int64_t now, hd_error *err);
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
        int (*event_list)(orch_store *st, const char *id, int64_t after_id, size_t limit,
                          orch_event_list *out, hd_error *err);

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
};

struct orch_store {
        const struct orch_store_ops *ops;
};

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

/* Checks a new workspace's GPU request (count, model, NUMA policy). */
int orch_gpu_request_check(const orch_workspace *spec, hd_error *err);

/* Backends. */
orch_store *orch_store_sqlite_open(const char *path, hd_error *err);

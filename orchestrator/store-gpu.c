/* store-gpu.c — the backend-neutral half of GPU allocation: which free GPUs
 * a claim gets (the one rule every backend applies inside its transaction),
 * the refusal messages, argument checks, and the public GPU functions that
 * dispatch to a backend (store-backend.h). */
#include "orchestrator/store-backend.h"

#include "common/buf.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ORCH_GPU_MAX 64 /* per workspace: more than any host has */

/* ---- rows (orch_gpu_row_clear and its list: store.c) ------------------------------- */

void orch_gpu_addresses_free(char **addresses, size_t n)
{
        for (size_t i = 0; addresses && i < n; i++)
                free(addresses[i]);
        free(addresses);
}

bool orch_gpu_row_matches(const orch_gpu_row *g, const char *model_filter)
{
        if (!model_filter)
                return true;
        if (g->vendor_device && strcasecmp(g->vendor_device, model_filter) == 0)
                return true;
        return g->model && strcasestr(g->model, model_filter);
}

/* ---- the allocation rule ---------------------------------------------------------- */

typedef struct node_free {
        int node;
        size_t free;
} node_free;

/* Most free first, then the lowest node number. */
static int by_most_free(const void *a, const void *b)
{
        const node_free *x = a, *y = b;

        if (x->free != y->free)
                return x->free > y->free ? -1 : 1;
        return (x->node > y->node) - (x->node < y->node);
}

/* The distinct nodes of the free GPUs, with how many each has. */
static size_t count_nodes(const orch_gpu_row *rows, const size_t *fr, size_t nfree,
                          node_free *nodes)
{
        size_t nn = 0, k;

        for (size_t i = 0; i < nfree; i++) {
                for (k = 0; k < nn && nodes[k].node != rows[fr[i]].numa_node; k++)
                        ;
                if (k == nn)
                        nodes[nn++] = (node_free){rows[fr[i]].numa_node, 0};
                nodes[k].free++;
        }
        return nn;
}

/* Mark up to want free GPUs of node, lowest addresses first. */
static size_t take_node(const orch_gpu_row *rows, const size_t *fr, size_t nfree, int node,
                        size_t want, bool *taken)
{
        size_t got = 0;

        for (size_t i = 0; i < nfree && got < want; i++)
                if (rows[fr[i]].numa_node == node && !taken[i]) {
                        taken[i] = true;
                        got++;
                }
        return got;
}

int orch_gpu_choose(const orch_gpu_row *rows, size_t n, unsigned count,
                    const char *model_filter, const char *numa_policy, size_t *pick,
                    hd_error *err)
{
        const char *what = model_filter ? model_filter : "GPU";
        _cleanup_free_ size_t *fr = hd_malloc0((n + 1) * sizeof(*fr));
        _cleanup_free_ node_free *nodes = hd_malloc0((n + 1) * sizeof(*nodes));
        _cleanup_free_ bool *taken = hd_malloc0(n + 1);
        size_t total = 0, nfree = 0, nn, got = 0, best = SIZE_MAX;

        for (size_t i = 0; i < n; i++) {
                if (!rows[i].present || !orch_gpu_row_matches(&rows[i], model_filter))
                        continue;
                total++;
                if (!rows[i].quarantined && !rows[i].workspace_id)
                        fr[nfree++] = i;
        }
        if (nfree == 0 && total == 0)
                return hd_error_set(err, HD_E_NO_RESOURCES, "no free %s: this host has none",
                                    what);
        if (nfree == 0)
                return hd_error_set(err, HD_E_NO_RESOURCES, "no free %s: 0 of %zu free", what,
                                    total);
        if (nfree < count)
                return hd_error_set(err, HD_E_NO_RESOURCES, "only %zu of %zu %s free, %u requested",
                                    nfree, total, what, count);

        nn = count_nodes(rows, fr, nfree, nodes);
        /* Best fit: the node with the fewest free GPUs that still has enough. */
        for (size_t k = 0; k < nn; k++)
                if (nodes[k].free >= count &&
                    (best == SIZE_MAX || nodes[k].free < nodes[best].free ||
                     (nodes[k].free == nodes[best].free && nodes[k].node < nodes[best].node)))
                        best = k;
        if (best != SIZE_MAX) {
                take_node(rows, fr, nfree, nodes[best].node, count, taken);
        } else if (numa_policy && strcmp(numa_policy, "required") == 0) {
                return hd_error_set(err, HD_E_NO_RESOURCES,
                                    "%zu %s free but not %u on one NUMA node (numa=required)",
                                    nfree, what, count);
        } else {
                qsort(nodes, nn, sizeof(*nodes), by_most_free);
                for (size_t k = 0; k < nn && got < count; k++)
                        got += take_node(rows, fr, nfree, nodes[k].node, count - got, taken);
        }
        got = 0;
        for (size_t i = 0; i < nfree; i++)
                if (taken[i])
                        pick[got++] = fr[i];
        return 0;
}

/* ---- argument checks ---------------------------------------------------------------- */

static bool numa_policy_valid(const char *policy)
{
        return !policy || strcmp(policy, "required") == 0 || strcmp(policy, "preferred") == 0;
}

static int gpu_args_check(const char *whose, unsigned count, const char *model,
                          const char *policy, hd_error *err)
{
        if (count > ORCH_GPU_MAX)
                return hd_error_set(err, HD_E_INVALID, "%s: %u GPUs asked for; at most %d",
                                    whose, count, ORCH_GPU_MAX);
        if (!numa_policy_valid(policy))
                return hd_error_set(err, HD_E_INVALID,
                                    "%s: GPU NUMA policy '%.32s' must be 'required' or "
                                    "'preferred'",
                                    whose, policy);
        if (model && !*model)
                return hd_error_set(err, HD_E_INVALID,
                                    "%s: an empty GPU model; leave it out for any model",
                                    whose);
        return 0;
}

int orch_gpu_request_check(const orch_workspace *spec, hd_error *err)
{
        _cleanup_free_ char *whose = hd_asprintf("workspace %s", spec->name);

        return gpu_args_check(whose, spec->gpu_count, spec->gpu_model, spec->gpu_numa, err);
}

static int need(const char *value, const char *what, hd_error *err)
{
        if (!value || !*value)
                return hd_error_set(err, HD_E_INVALID, "%s is required", what);
        return 0;
}

/* ---- public functions --------------------------------------------------------------- */

int orch_store_gpu_sync(orch_store *st, const orch_gpu_row *usable, size_t n, hd_error *err)
{
        for (size_t i = 0; i < n; i++)
                if (need(usable[i].address, "a GPU's PCI address", err) < 0 ||
                    need(usable[i].vendor_device, "a GPU's vendor:device", err) < 0)
                        return -1;
        return st->ops->gpu_sync(st, usable, n, (int64_t)time(NULL), err);
}

int orch_store_gpu_claim(orch_store *st, const char *workspace_id, unsigned count,
                         const char *model_filter, const char *numa_policy,
                         char ***addresses_out, size_t *n_out, hd_error *err)
{
        _cleanup_free_ char *whose = NULL;

        *addresses_out = NULL;
        *n_out = 0;
        if (need(workspace_id, "a workspace's id", err) < 0)
                return -1;
        whose = hd_asprintf("workspace %s", workspace_id);
        if (count == 0)
                return hd_error_set(err, HD_E_INVALID, "%s: a GPU claim needs a count above 0",
                                    whose);
        if (gpu_args_check(whose, count, model_filter, numa_policy, err) < 0)
                return -1;
        return orch_store_committed(st, st->ops->gpu_claim(st, workspace_id, count, model_filter,
                                                           numa_policy, (int64_t)time(NULL),
                                                           addresses_out, n_out, err));
}

int orch_store_gpu_release(orch_store *st, const char *workspace_id, hd_error *err)
{
        if (need(workspace_id, "a workspace's id", err) < 0)
                return -1;
        return orch_store_committed(st, st->ops->gpu_release(st, workspace_id, (int64_t)time(NULL), err));
}

int orch_store_gpu_list(orch_store *st, orch_gpu_row_list *out, hd_error *err)
{
        *out = (orch_gpu_row_list){0};
        return st->ops->gpu_list(st, out, err);
}

int orch_store_gpu_held(orch_store *st, const char *workspace_id, char ***addresses,
                        size_t *n, hd_error *err)
{
        *addresses = NULL;
        *n = 0;
        if (need(workspace_id, "a workspace's id", err) < 0)
                return -1;
        return st->ops->gpu_held(st, workspace_id, addresses, n, err);
}

int orch_store_gpu_quarantine(orch_store *st, const char *address, const char *reason,
                              hd_error *err)
{
        if (need(address, "a GPU's PCI address", err) < 0 ||
            need(reason, "a reason for the quarantine", err) < 0)
                return -1;
        return st->ops->gpu_quarantine(st, address, reason, (int64_t)time(NULL), err);
}

int orch_store_gpu_clear(orch_store *st, const char *address, hd_error *err)
{
        if (need(address, "a GPU's PCI address", err) < 0)
                return -1;
        return st->ops->gpu_quarantine(st, address, NULL, (int64_t)time(NULL), err);
}

/* gpus.c — the service's GPU side: keep the host's inventory (refreshed at
 * start and on request) in step with the store, say whether the host can
 * pass GPUs through at all (the claims are made with each admission, in
 * the store), turn held GPUs into the domain's hostdevs, NUMA node and
 * pinned CPUs, and report every GPU with its state and holder. */
#include "orchestrator/service-internal.h"

#include "common/common.h"

#include <string.h>

int orch_gpu_refresh(orch_service *svc, hd_error *err)
{
        orch_gpu_list inv = {0};
        orch_gpu_row *rows;
        size_t n = 0;
        int r;

        if (orch_gpu_inventory(svc->p.gpu_sysfs_root, svc->p.gpu_pci_ids, svc->p.gpu_kernel_cmdline, &inv, err) < 0)
                return -1;
        rows = hd_malloc0((inv.count + 1) * sizeof(*rows));
        for (size_t i = 0; i < inv.count; i++) {
                const orch_gpu *g = &inv.items[i];
                if (!g->usable || inv.host_problem)
                        continue;
                rows[n++] = (orch_gpu_row){
                        .address = (char *)g->address,
                        .vendor_device = hd_asprintf("%04x:%04x", g->vendor, g->device),
                        .model = g->model,
                        .numa_node = g->numa_node,
                };
        }
        r = orch_store_gpu_sync(svc->store, rows, n, err);
        for (size_t i = 0; i < n; i++)
                free(rows[i].vendor_device);
        free(rows);
        if (r < 0) {
                orch_gpu_list_free(&inv);
                return -1;
        }
        pthread_mutex_lock(&svc->gpu_lock);
        orch_gpu_list_free(&svc->gpus);
        svc->gpus = inv;
        pthread_mutex_unlock(&svc->gpu_lock);
        return 0;
}

/* Why this host cannot pass GPUs through at all, or NULL (caller frees). */
static char *host_refusal(orch_service *svc)
{
        char *why = NULL;

        if (strcmp(svc->virt_type, "kvm") != 0)
                return hd_strdup("GPU passthrough needs KVM, and this host runs guests under TCG "
                                 "(virt_type qemu)");
        pthread_mutex_lock(&svc->gpu_lock);
        if (svc->gpus.host_problem)
                why = hd_strdup(svc->gpus.host_problem);
        pthread_mutex_unlock(&svc->gpu_lock);
        return why;
}

int orch_gpu_host_check(orch_service *svc, unsigned count, hd_error *err)
{
        _cleanup_free_ char *why = count ? host_refusal(svc) : NULL;

        return why ? hd_error_set(err, HD_E_NO_RESOURCES, "%s", why) : 0;
}void orch_gpu_parts_clear(orch_gpu_parts *parts)
{
        for (size_t i = 0; i < parts->n_hostdevs; i++)
                free((char *)parts->hostdevs[i].address);
        free(parts->hostdevs);
        free(parts->pin_cpus);
        *parts = (orch_gpu_parts){.numa_node = -1};
}

/* Every function of each card held by id, the node they share, its CPUs. */
int orch_gpu_domain_parts(orch_service *svc, const char *id, orch_gpu_parts *parts, hd_error *err)
{
        char **held = NULL;
        size_t n_held = 0;
        int node = -2, r = 0;

        *parts = (orch_gpu_parts){.numa_node = -1};
        if (orch_store_gpu_held(svc->store, id, &held, &n_held, err) < 0)
                return -1;
        pthread_mutex_lock(&svc->gpu_lock);
        for (size_t i = 0; i < n_held && r == 0; i++) {
                const orch_gpu *g = NULL;
                for (size_t k = 0; k < svc->gpus.count && !g; k++)
                        if (strcmp(svc->gpus.items[k].address, held[i]) == 0)
                                g = &svc->gpus.items[k];
                if (!g) {
                        r = hd_error_set(err, HD_E_NO_RESOURCES, "GPU %s is no longer present on this host",
                                         held[i]);
                        break;
                }
                node = node == -2 || node == g->numa_node ? g->numa_node : -1;
                parts->hostdevs = realloc(parts->hostdevs, (parts->n_hostdevs + g->n_functions) *
                                                                   sizeof(*parts->hostdevs));
                if (!parts->hostdevs)
                        abort();
                for (size_t f = 0; f < g->n_functions; f++)
                        parts->hostdevs[parts->n_hostdevs++] =
                                (orch_domain_hostdev){.address = hd_strdup(g->functions[f]),
                                                      .rom_bar_off = svc->p.gpu_rom_bar_off};
        }
        pthread_mutex_unlock(&svc->gpu_lock);
        for (size_t i = 0; i < n_held; i++)
                free(held[i]);
        free(held);
        if (r < 0) {
                orch_gpu_parts_clear(parts);
                return -1;
        }
        /* Pin to the GPUs' node when they share one (else leave placement to the host). */
        if (node >= 0 && orch_numa_cpus(svc->p.gpu_sysfs_root, node, &parts->pin_cpus, &parts->n_pin_cpus,
                                        NULL) == 0)
                parts->numa_node = node;
        return 0;
}

static const orch_gpu_row *row_of(const orch_gpu_row_list *rows, const char *address)
{
        for (size_t i = 0; i < rows->count; i++)
                if (strcmp(rows->items[i].address, address) == 0)
                        return &rows->items[i];
        return NULL;
}

int orch_gpus_foreach(orch_service *svc, orch_gpu_visit visit, void *ctx, char **host_problem, hd_error *err)
{
        orch_gpu_row_list rows = {0};

        if (orch_store_gpu_list(svc->store, &rows, err) < 0)
                return -1;
        pthread_mutex_lock(&svc->gpu_lock);
        if (host_problem)
                *host_problem = svc->gpus.host_problem ? hd_strdup(svc->gpus.host_problem) : NULL;
        for (size_t i = 0; i < svc->gpus.count; i++) {
                const orch_gpu *g = &svc->gpus.items[i];
                const orch_gpu_row *row = row_of(&rows, g->address);

                if (!g->usable || svc->gpus.host_problem)
                        visit(ctx, g, "unusable", NULL,
                              g->unusable_reason ? g->unusable_reason : svc->gpus.host_problem);
                else if (row && row->workspace_id)
                        visit(ctx, g, "assigned", row->workspace_id, NULL);
                else if (row && row->quarantined)
                        visit(ctx, g, "quarantined", NULL, row->quarantine_reason);
                else
                        visit(ctx, g, "free", NULL, NULL);
        }
        pthread_mutex_unlock(&svc->gpu_lock);
        orch_gpu_row_list_free(&rows);
        return 0;
}

int orch_gpu_clear(orch_service *svc, const char *address, hd_error *err)
{
        return orch_store_gpu_clear(svc->store, address, err);
}

/* A start that failed while resetting a GPU quarantines what it held. */
void orch_gpu_quarantine_on_reset_failure(orch_service *svc, const char *id, const char *libvirt_message)
{
        char **held = NULL;
        size_t n = 0;

        if (!libvirt_message || !strstr(libvirt_message, "reset"))
                return;
        if (orch_store_gpu_held(svc->store, id, &held, &n, NULL) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *why = hd_asprintf("reset failed: %.300s", libvirt_message);
                orch_store_gpu_quarantine(svc->store, held[i], why, NULL);
                free(held[i]);
        }
        free(held);
}

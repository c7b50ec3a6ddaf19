/* reconcile.c — startup reconciliation: make the store, libvirt's domains and
 * the overlays on disk agree again after a crash, and say what was done. */
#include "orchestrator/service-internal.h"

#include "common/common.h"

#include <stdarg.h>
#include <string.h>

typedef struct recon {
        orch_service *svc;
        void (*report)(void *ctx, const char *line);
        void *ctx;
        int actions;
} recon;

__attribute__((format(printf, 2, 3))) static void say(recon *r, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        r->actions++;
        if (r->report)
                r->report(r->ctx, line);
}

static const orch_domain_info *find_domain(const orch_domain_info *doms, size_t n, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (doms[i].meta.id && strcmp(doms[i].meta.id, id) == 0)
                        return &doms[i];
        return NULL;
}

/* Bring one workspace row in line with its domain. */
static void reconcile_row(recon *r, const orch_workspace *ws, const orch_domain_info *dom)
{
        orch_service *svc = r->svc;
        orch_store *st = svc->store;
        bool running = dom && dom->state == ORCH_DOM_RUNNING;
        hd_error err = {0};

        switch (ws->state) {
        case ORCH_WS_PENDING:
        case ORCH_WS_PROVISIONING:
                /* Its job died with the old process; the request's SSH keys
                 * are gone, so it cannot be finished: undo it. */
                if (orch_ws_teardown(svc, ws->id, &err) < 0)
                        say(r, "workspace %s (%s): cleaning up failed: %s", ws->name, ws->id, err.message);
                orch_ws_fail(svc, ws->id, "hostd stopped while this workspace was being provisioned; "
                                          "its disk and domain were removed: delete it and create it again");
                say(r, "workspace %s (%s): was %s at restart: failed and cleaned", ws->name, ws->id,
                    orch_ws_state_name(ws->state));
                break;
        case ORCH_WS_DELETING:
                if (orch_ws_finish_delete(svc, ws->id, &err) < 0)
                        say(r, "workspace %s (%s): finishing delete failed: %s", ws->name, ws->id, err.message);
                else
                        say(r, "workspace %s (%s): finished its interrupted delete", ws->name, ws->id);
                break;
        case ORCH_WS_STOPPING:
        case ORCH_WS_STARTING:
                /* Re-drive the interrupted request. */
                orch_job_queue(svc, ws->state == ORCH_WS_STOPPING ? JOB_STOP : JOB_START, ws->id, NULL, NULL, 0);
                say(r, "workspace %s (%s): resumed its interrupted %s", ws->name, ws->id,
                    ws->state == ORCH_WS_STOPPING ? "stop" : "start");
                break;
        case ORCH_WS_RUNNING:
        case ORCH_WS_READY:
                if (!dom) {
                        orch_ws_fail(svc, ws->id, "its domain disappeared from libvirt while hostd was down");
                        say(r, "workspace %s (%s): domain missing: failed", ws->name, ws->id);
                } else if (!running) {
                        orch_store_transition(st, ws->id, ORCH_WS_BIT(ws->state), ORCH_WS_STOPPED,
                                              "found shut off when hostd started", NULL);
                        say(r, "workspace %s (%s): found shut off: now stopped", ws->name, ws->id);
                }
                break;
        case ORCH_WS_STOPPED:
                if (running) {
                        orch_store_transition(st, ws->id, ORCH_WS_BIT(ORCH_WS_STOPPED), ORCH_WS_STARTING,
                                              "found running when hostd started", NULL);
                        orch_store_transition(st, ws->id, ORCH_WS_BIT(ORCH_WS_STARTING), ORCH_WS_RUNNING, NULL, NULL);
                        say(r, "workspace %s (%s): found running: now running", ws->name, ws->id);
                }
                break;
        case ORCH_WS_FAILED:
        case ORCH_WS_DELETED:
        case ORCH_WS__STATE_COUNT:
                break;
        }
}

static bool row_is_live(const orch_workspace_list *rows, const char *id)
{
        for (size_t i = 0; i < rows->count; i++)
                if (strcmp(rows->items[i].id, id) == 0)
                        return rows->items[i].state != ORCH_WS_DELETED;
        return false;
}

int orch_reconcile(orch_service *svc, void (*report)(void *ctx, const char *line), void *ctx, hd_error *err)
{
        recon r = {svc, report, ctx, 0};
        orch_workspace_list rows = {0};
        orch_domain_info *doms = NULL;
        size_t n_doms = 0, n_disks = 0;
        char **disks = NULL;

        if (orch_store_workspace_list(svc->store, NULL, &rows, err) < 0)
                return -1;
        if (orch_virt_list(svc->virt, &doms, &n_doms, err) < 0) {
                orch_workspace_list_free(&rows);
                return -1;
        }
        for (size_t i = 0; i < rows.count; i++)
                reconcile_row(&r, &rows.items[i], find_domain(doms, n_doms, rows.items[i].id));

        /* Domains carrying hostd's metadata that no live row owns. */
        for (size_t i = 0; i < n_doms; i++) {
                const char *id = doms[i].meta.id;
                hd_error e = {0};
                /* Only this hostd's domains: another instance may share libvirtd. */
                if (!id || row_is_live(&rows, id) || !doms[i].meta.instance ||
                    strcmp(doms[i].meta.instance, svc->p.state_dir) != 0)
                        continue;
                if (orch_ws_teardown(svc, id, &e) < 0)
                        say(&r, "domain %s: no workspace owns it, removing failed: %s", id, e.message);
                else
                        say(&r, "domain %s: no workspace owns it: removed with its disk", id);
        }
        /* Overlays no live row owns. */
        if (img_disk_list(svc->images, &disks, &n_disks, err) == 0) {
                for (size_t i = 0; i < n_disks; i++) {
                        hd_error e = {0};
                        if (row_is_live(&rows, disks[i]))
                                continue;
                        if (img_disk_delete(svc->images, disks[i], &e) < 0)
                                say(&r, "disk %s: no workspace owns it, removing failed: %s", disks[i], e.message);
                        else
                                say(&r, "disk %s: no workspace owns it: removed", disks[i]);
                }
                img_disk_list_free(disks, n_disks);
        }
        orch_domain_info_free(doms, n_doms);
        orch_workspace_list_free(&rows);
        return r.actions;
}

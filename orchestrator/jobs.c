/* jobs.c — the slow halves of workspace requests, run on worker threads:
 * provision (clone, inject, define, boot), start, stop, restart, delete.
 * Every state change is committed before the action that follows it; a job
 * that finds its workspace moved on (deleted meanwhile) stops and leaves the
 * clean-up to the job that moved it. */
#include "orchestrator/service-internal.h"

#include "cloudinit/cloudinit.h"
#include "common/common.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GiB (1ull << 30)

typedef struct job {
        orch_job_kind kind;
        char *id;
        char *user;
        char *reason; /* a stop's or delete's, when hostd itself asked */
        char **keys;
        size_t n_keys;
} job;

static void job_free(void *p)
{
        job *j = p;

        for (size_t i = 0; i < j->n_keys; i++)
                free(j->keys[i]);
        free(j->keys);
        free(j->user);
        free(j->reason);
        free(j->id);
        free(j);
}

void orch_ws_fail(orch_service *svc, const char *id, const char *reason)
{
        /* The move to failed releases its GPUs (store, same transaction). A
         * workspace being deleted stays so: its delete job finishes the job. */
        orch_store_transition(svc->store, id,
                              (ORCH_WS_BIT(ORCH_WS__STATE_COUNT) - 1) &
                                      ~(ORCH_WS_BIT(ORCH_WS_DELETING) | ORCH_WS_BIT(ORCH_WS_DELETED)),
                              ORCH_WS_FAILED, reason, NULL);
}

static int unlink_if_present(const char *path, hd_error *err)
{
        if (unlink(path) < 0 && errno != ENOENT)
                return hd_error_errno(err, HD_E_IO, errno, "cannot remove %s", path);
        return 0;
}

int orch_ws_teardown(orch_service *svc, const char *id, hd_error *err)
{
        _cleanup_free_ char *sock = orch_agent_socket_path(svc, id);
        _cleanup_free_ char *log = orch_console_log_path(svc, id);
        hd_error e = {0};

        if (orch_virt_destroy(svc->virt, id, &e) < 0 && e.code != HD_E_NOT_FOUND && e.code != HD_E_CONFLICT)
                return hd_error_set(err, e.code, "%s", e.message);
        if (orch_virt_undefine(svc->virt, id, &e) < 0 && e.code != HD_E_NOT_FOUND)
                return hd_error_set(err, e.code, "%s", e.message);
        if (img_disk_delete(svc->images, id, &e) < 0 && e.code != HD_E_NOT_FOUND)
                return hd_error_set(err, e.code, "%s", e.message);
        if (unlink_if_present(sock, err) < 0 || unlink_if_present(log, err) < 0)
                return -1;
        return 0;
}

/* Define (or redefine) the domain of ws, whose overlay exists, with the
 * GPUs it holds now: they may differ from one start to the next. */
static int define_domain(orch_service *svc, const orch_workspace *ws, hd_error *err)
{
        _cleanup_free_ char *sock = orch_agent_socket_path(svc, ws->id);
        _cleanup_free_ char *log = orch_console_log_path(svc, ws->id);
        _cleanup_free_ char *disk = NULL;
        _cleanup_(orch_template_guest_clear) orch_template_guest tg = {0};
        orch_gpu_parts gpus;
        bool own_net;
        int r;

        if (img_disk_path(svc->images, ws->id, &disk, err) < 0 || orch_template_guest_for(svc, ws, &tg, err) < 0 ||
            orch_gpu_domain_parts(svc, ws->id, &gpus, err) < 0)
                return -1;
        /* The template's network or bridge, else hostd's. */
        own_net = tg.network || tg.bridge;
        orch_domain_spec spec = {
                .id = ws->id,
                .display_name = ws->name,
                .owner = ws->owner,
                .template_name = ws->template_name,
                .instance = svc->p.state_dir,
                .image = ws->image,
                .created = ws->created_at,
                .virt_type = svc->virt_type,
                .vcpus = ws->vcpus,
                .memory_mib = ws->memory_mib,
                .disk_path = disk,
                .network = own_net ? tg.network : svc->p.network,
                .bridge = own_net ? tg.bridge : svc->p.bridge,
                .agent_socket_path = sock,
                .console_log_path = log,
                .hostdevs = gpus.hostdevs,
                .n_hostdevs = gpus.n_hostdevs,
                .numa_pin = gpus.numa_node >= 0,
                .numa_node = gpus.numa_node,
                .pin_cpus = gpus.pin_cpus,
                .n_pin_cpus = gpus.n_pin_cpus,
                .hugepages = svc->p.hugepages_min_memory_mib && ws->memory_mib >= svc->p.hugepages_min_memory_mib,
        };

        r = orch_virt_define(svc->virt, &spec, err);
        orch_gpu_parts_clear(&gpus);
        return r;
}

/* Seed, agent, token and startup script into the overlay: one libguestfs launch. */
static int inject(orch_service *svc, const orch_workspace *ws, const job *j, const char *disk, hd_error *err)
{
        char token[65], hash[65];
        ci_seed seed = {0};
        ci_request creq = {
                .instance_id = ws->id,
                .hostname = ws->name,
                .username = j->user,
                .ssh_keys = (const char *const *)j->keys,
                .n_ssh_keys = j->n_keys,
        };
        ci_inject_req ireq = {
                .disk_path = disk,
                .disk_format = "qcow2",
                .seed = &seed,
                .agent_binary_path = svc->p.agent_binary,
                .agent_token = token,
                .workspace_id = ws->id,
                .force_tcg = strcmp(svc->virt_type, "qemu") == 0,
        };
        orch_ws_update u = {.agent_token_hash = hash};
        _cleanup_(orch_template_guest_clear) orch_template_guest tg = {0};
        int r;

        if (orch_template_guest_for(svc, ws, &tg, err) < 0)
                return -1;
        creq.extra_cloud_config = json_object_size(tg.cloud_config) ? tg.cloud_config : NULL;
        ireq.startup_script = tg.startup_script;
        ireq.startup_timeout_s = tg.startup_timeout_s;
        if (orch_token_new(token, hash, err) < 0 || ci_render(&creq, &seed, err) < 0)
                return -1;
        r = ci_inject(&ireq, err);
        ci_seed_free(&seed);
        if (r < 0)
                return -1;
        return orch_store_workspace_update(svc->store, ws->id, &u, err);
}

static void provision(orch_service *svc, const job *j)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        _cleanup_free_ char *disk = NULL, *reason = NULL;
        hd_error err = {0};
        const char *step;

        if (orch_store_transition(svc->store, j->id, ORCH_WS_BIT(ORCH_WS_PENDING), ORCH_WS_PROVISIONING, NULL,
                                  &err) < 0)
                return; /* deleted before it began: the delete job cleans up */
        ws = orch_store_workspace_get(svc->store, j->id, &err);
        step = "reading the workspace";
        if (!ws)
                goto fail;
        step = "creating the disk";
        if (img_disk_create(svc->images, ws->image, ws->id, ws->disk_gib * GiB, &disk, &err) < 0)
                goto fail;
        step = "injecting cloud-init data and the agent";
        if (inject(svc, ws, j, disk, &err) < 0)
                goto fail;
        step = "defining the domain";
        if (define_domain(svc, ws, &err) < 0)
                goto fail;
        step = "starting the domain";
        if (orch_virt_start(svc->virt, ws->id, &err) < 0) {
                orch_gpu_quarantine_on_reset_failure(svc, ws->id, err.message);
                goto fail;
        }
        if (orch_store_transition(svc->store, ws->id, ORCH_WS_BIT(ORCH_WS_PROVISIONING), ORCH_WS_RUNNING, NULL,
                                  &err) == 0) {
                orch_policy_on_start(svc, ws->id);
                return;
        }
        /* Moved on meanwhile (a delete): that job tears down. */
        return;
fail:
        reason = hd_asprintf("%s: %s", step, err.message);
        orch_ws_teardown(svc, j->id, NULL);
        orch_ws_fail(svc, j->id, reason);
}

static int do_start(orch_service *svc, const char *id)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        hd_error err = {0};
        _cleanup_free_ char *reason = NULL;
        orch_dom_state st = ORCH_DOM_UNKNOWN;

        if (orch_virt_state(svc->virt, id, &st, &err) == 0 && st == ORCH_DOM_RUNNING)
                goto running;
        ws = orch_store_workspace_get(svc->store, id, &err);
        /* The GPUs claimed for this start go into the definition first. */
        if (!ws || (ws->gpu_count > 0 && define_domain(svc, ws, &err) < 0) ||
            orch_virt_start(svc->virt, id, &err) < 0) {
                orch_gpu_quarantine_on_reset_failure(svc, id, err.message);
                reason = hd_asprintf("starting the domain: %s", err.message);
                orch_ws_fail(svc, id, reason);
                return -1;
        }
running:
        if (orch_store_transition(svc->store, id, ORCH_WS_BIT(ORCH_WS_STARTING), ORCH_WS_RUNNING, NULL, NULL) < 0)
                return -1;
        orch_policy_on_start(svc, id);
        return 0;
}

static int do_stop(orch_service *svc, const char *id, bool force, const char *why)
{
        hd_error err = {0};
        bool forced = force;
        _cleanup_free_ char *reason = NULL;
        int r;

        if (force)
                r = orch_virt_destroy(svc->virt, id, &err);
        else
                r = orch_virt_shutdown(svc->virt, id, svc->p.stop_timeout, &forced, &err);
        if (r < 0 && err.code != HD_E_CONFLICT) { /* conflict: already shut off */
                reason = hd_asprintf("stopping the domain: %s", err.message);
                orch_ws_fail(svc, id, reason);
                return -1;
        }
        if (forced && !force)
                reason = hd_asprintf("forced off: the guest did not shut down within %u s", svc->p.stop_timeout);
        /* A stopped guest has no addresses (the move to stopped releases its GPUs). */
        orch_store_workspace_update(svc->store, id, &(orch_ws_update){.ip_addresses = "[]"}, NULL);
        if (!reason && why)
                reason = hd_strdup(why);
        r = orch_store_transition(svc->store, id, ORCH_WS_BIT(ORCH_WS_STOPPING), ORCH_WS_STOPPED,
                                  reason ? reason : (force ? "forced stop" : "stopped"), NULL);
        orch_policy_on_stop(svc, id);
        return r;
}

int orch_ws_finish_delete(orch_service *svc, const char *id, hd_error *err)
{
        if (orch_ws_teardown(svc, id, err) < 0 ||
            orch_store_transition(svc->store, id, ORCH_WS_BIT(ORCH_WS_DELETING), ORCH_WS_DELETED, NULL, err) < 0)
                return -1;
        /* Gone for good: the row goes, its history stays in the event log. */
        return orch_store_workspace_purge(svc->store, id, err);
}

static void do_delete(orch_service *svc, const char *id)
{
        hd_error err = {0};
        _cleanup_free_ char *reason = NULL;

        if (orch_ws_finish_delete(svc, id, &err) < 0) {
                reason = hd_asprintf("deleting: %s", err.message);
                orch_ws_fail(svc, id, reason);
        }
}

/* Stop, then start admitted again: the stop released the vCPUs, memory and
 * GPUs, which others may have taken meanwhile. */
static void restart(orch_service *svc, const char *id)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        _cleanup_free_ char *reason = NULL;
        hd_error err = {0};
        orch_admission adm;

        if (do_stop(svc, id, false, NULL) < 0 || !(ws = orch_store_workspace_get(svc->store, id, &err)))
                return;
        if (orch_admission_for(svc, ws->gpu_count, NULL, 0, &adm, &err) < 0 ||
            orch_store_transition_admit(svc->store, id, ORCH_WS_BIT(ORCH_WS_STOPPED), ORCH_WS_STARTING, "restart",
                                        &adm, &err) < 0) {
                reason = hd_asprintf("restart stopped it but could not start it again: %s", err.message);
                orch_store_event_add(svc->store, id, "restart_failed", reason, NULL, NULL);
                return;
        }
        do_start(svc, id);
}

static void run_job(void *ctx, void *arg)
{
        orch_service *svc = ctx;
        job *j = arg;

        orch_ws_lock(svc, j->id);
        switch (j->kind) {
        case JOB_PROVISION:
                provision(svc, j);
                break;
        case JOB_START:
                do_start(svc, j->id);
                break;
        case JOB_STOP:
        case JOB_STOP_FORCE:
                do_stop(svc, j->id, j->kind == JOB_STOP_FORCE, j->reason);
                break;
        case JOB_RESTART:
                restart(svc, j->id);
                break;
        case JOB_DELETE:
                do_delete(svc, j->id);
                break;
        }
        orch_ws_unlock(svc, j->id);
}

static void job_submit(orch_service *svc, job *j)
{
        if (svc->submit) {
                svc->submit(svc->executor, run_job, svc, j, job_free);
        } else {
                run_job(svc, j);
                job_free(j);
        }
}

void orch_job_queue_why(orch_service *svc, orch_job_kind kind, const char *id, const char *reason)
{
        job *j = hd_malloc0(sizeof(*j));

        j->kind = kind;
        j->id = hd_strdup(id);
        j->reason = reason ? hd_strdup(reason) : NULL;
        j->keys = hd_malloc0(sizeof(char *));
        job_submit(svc, j);
}

void orch_job_queue(orch_service *svc, orch_job_kind kind, const char *id, const char *user,
                    const char *const *ssh_keys, size_t n_keys)
{
        job *j = hd_malloc0(sizeof(*j));

        j->kind = kind;
        j->id = hd_strdup(id);
        j->user = user ? hd_strdup(user) : NULL;
        j->keys = hd_malloc0((n_keys + 1) * sizeof(char *));
        for (size_t i = 0; i < n_keys; i++)
                j->keys[i] = hd_strdup(ssh_keys[i]);
        j->n_keys = n_keys;
        job_submit(svc, j);
}

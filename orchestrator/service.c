/* service.c — the workspace service: open, images, and the requests the API
 * makes (each checked, its first state change committed, the rest queued). */
#include "orchestrator/service-internal.h"
#include "orchestrator/events.h"

#include "cloudinit/cloudinit.h"
#include "common/common.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GiB (1ull << 30)

static char *dup_or_null(const char *s)
{
        return s ? hd_strdup(s) : NULL;
}

static void params_copy(orch_params *dst, const orch_params *src)
{
        *dst = *src;
        dst->state_dir = dup_or_null(src->state_dir);
        dst->run_dir = dup_or_null(src->run_dir);
        dst->log_dir = dup_or_null(src->log_dir);
        dst->libvirt_uri = dup_or_null(src->libvirt_uri);
        dst->virt_type = dup_or_null(src->virt_type);
        dst->network = dup_or_null(src->network);
        dst->bridge = dup_or_null(src->bridge);
        dst->agent_binary = dup_or_null(src->agent_binary);
        dst->gpu_sysfs_root = dup_or_null(src->gpu_sysfs_root ? src->gpu_sysfs_root : "/sys");
        dst->gpu_pci_ids = dup_or_null(src->gpu_pci_ids ? src->gpu_pci_ids : "/usr/share/misc/pci.ids");
        dst->gpu_kernel_cmdline = dup_or_null(src->gpu_kernel_cmdline ? src->gpu_kernel_cmdline : "/proc/cmdline");
}

static void params_free(orch_params *p)
{
        free((char *)p->state_dir);
        free((char *)p->run_dir);
        free((char *)p->log_dir);
        free((char *)p->libvirt_uri);
        free((char *)p->virt_type);
        free((char *)p->network);
        free((char *)p->bridge);
        free((char *)p->agent_binary);
        free((char *)p->gpu_sysfs_root);
        free((char *)p->gpu_pci_ids);
        free((char *)p->gpu_kernel_cmdline);
}

orch_service *orch_service_open(const orch_params *p, hd_error *err)
{
        orch_service *svc = hd_malloc0(sizeof(*svc));
        _cleanup_free_ char *db = NULL;
        img_limits limits = {.max_virtual_size = p->max_image_size};

        params_copy(&svc->p, p);
        orch_capacity_init(svc, p);
        pthread_mutex_init(&svc->busy_lock, NULL);
        pthread_cond_init(&svc->busy_cond, NULL);
        pthread_mutex_init(&svc->gpu_lock, NULL);
        pthread_mutex_init(&svc->policy_lock, NULL);
        svc->agents_dir = hd_path_join(p->run_dir, "agents");
        /* qemu (user libvirt-qemu) binds the agent sockets and writes nothing
         * else here; hostd (root) connects to them. */
        if (hd_mkdir_p(p->state_dir, 0711, err) < 0 || hd_mkdir_p(p->log_dir, 0750, err) < 0 ||
            hd_mkdir_p(p->run_dir, 0755, err) < 0 || hd_mkdir_p(svc->agents_dir, 0777, err) < 0)
                goto fail;
        /* qemu must traverse the state dir to reach disks (see images/). */
        if (chmod(p->state_dir, 0711) < 0 || chmod(svc->agents_dir, 01777) < 0) {
                hd_error_errno(err, HD_E_IO, errno, "cannot set the modes of %s and %s", p->state_dir,
                               svc->agents_dir);
                goto fail;
        }
        db = hd_path_join(p->state_dir, "hostd.db");
        svc->store = orch_store_open(db, err);
        if (!svc->store)
                goto fail;
        svc->events = orch_events_open(svc->store, err);
        if (!svc->events)
                goto fail;
        svc->images = img_store_open(p->state_dir, &limits, err);
        if (!svc->images)
                goto fail;
        svc->virt = orch_virt_open(p->libvirt_uri, err);
        if (!svc->virt)
                goto fail;
        svc->virt_type = orch_virt_type(svc->virt, p->virt_type, err);
        if (!svc->virt_type)
                goto fail;
        if (orch_gpu_refresh(svc, err) < 0)
                goto fail;
        return svc;
fail:
        orch_service_close(svc);
        return NULL;
}

void orch_service_close(orch_service *svc)
{
        if (!svc)
                return;
        orch_agents_close(svc);
        if (svc->virt)
                orch_virt_close(svc->virt);
        if (svc->images)
                img_store_close(svc->images);
        orch_events_close(svc->events);
        if (svc->store)
                orch_store_close(svc->store);
        for (size_t i = 0; i < svc->n_busy; i++)
                free(svc->busy[i]);
        free(svc->busy);
        free(svc->agents_dir);
        params_free(&svc->p);
        orch_gpu_list_free(&svc->gpus);
        pthread_mutex_destroy(&svc->gpu_lock);
        pthread_mutex_destroy(&svc->policy_lock);
        pthread_mutex_destroy(&svc->busy_lock);
        pthread_cond_destroy(&svc->busy_cond);
        free(svc);
}

void orch_service_set_executor(orch_service *svc, orch_submit_fn submit, void *executor)
{
        svc->submit = submit;
        svc->executor = executor;
}

const char *orch_service_virt_type(orch_service *svc)
{
        return svc->virt_type;
}

orch_store *orch_service_store(orch_service *svc)
{
        return svc->store;
}

orch_events *orch_service_events(orch_service *svc)
{
        return svc->events;
}

bool orch_service_libvirt_ok(orch_service *svc, hd_error *err)
{
        orch_domain_info *list = NULL;
        size_t n = 0;

        if (orch_virt_list(svc->virt, &list, &n, err) < 0)
                return false;
        orch_domain_info_free(list, n);
        return true;
}

char *orch_agent_socket_path(orch_service *svc, const char *id)
{
        return hd_asprintf("%s/%s.sock", svc->agents_dir, id);
}

char *orch_console_log_path(orch_service *svc, const char *id)
{
        return hd_asprintf("%s/%s.console.log", svc->p.log_dir, id);
}

/* ---- one job per workspace at a time ------------------------------------- */

static ssize_t busy_index(orch_service *svc, const char *id)
{
        for (size_t i = 0; i < svc->n_busy; i++)
                if (strcmp(svc->busy[i], id) == 0)
                        return (ssize_t)i;
        return -1;
}

void orch_ws_lock(orch_service *svc, const char *id)
{
        pthread_mutex_lock(&svc->busy_lock);
        while (busy_index(svc, id) >= 0)
                pthread_cond_wait(&svc->busy_cond, &svc->busy_lock);
        if (svc->n_busy == svc->cap_busy) {
                svc->cap_busy = svc->cap_busy ? 2 * svc->cap_busy : 8;
                svc->busy = realloc(svc->busy, svc->cap_busy * sizeof(*svc->busy));
                if (!svc->busy)
                        abort();
        }
        svc->busy[svc->n_busy++] = hd_strdup(id);
        pthread_mutex_unlock(&svc->busy_lock);
}

void orch_ws_unlock(orch_service *svc, const char *id)
{
        ssize_t i;

        pthread_mutex_lock(&svc->busy_lock);
        i = busy_index(svc, id);
        if (i >= 0) {
                free(svc->busy[i]);
                svc->busy[i] = svc->busy[--svc->n_busy];
        }
        pthread_cond_broadcast(&svc->busy_cond);
        pthread_mutex_unlock(&svc->busy_lock);
}

/* ---- images ---------------------------------------------------------------- */

int orch_image_import(orch_service *svc, const img_import_req *req, orch_image **out, hd_error *err)
{
        img_info info = {0};
        orch_image row;

        if (img_import(svc->images, req, &info, err) < 0)
                return -1;
        row = (orch_image){
                .name = info.name,
                .format = info.format,
                .sha256 = info.sha256,
                .virtual_size = info.virtual_size,
                .file_size = info.file_size,
                .imported_at = info.imported_at,
        };
        if (orch_store_image_insert(svc->store, &row, err) < 0) {
                /* Keep file and catalog in step: undo the import. */
                img_delete(svc->images, info.name, NULL);
                img_info_clear(&info);
                return -1;
        }
        if (out)
                *out = orch_store_image_get(svc->store, info.name, err);
        img_info_clear(&info);
        return out && !*out ? -1 : 0;
}

int orch_image_delete(orch_service *svc, const char *name, hd_error *err)
{
        _cleanup_(orch_image_freep) orch_image *row = orch_store_image_get(svc->store, name, err);

        if (!row)
                return -1;
        /* The catalog refuses while a workspace uses the image … */
        if (orch_store_image_delete(svc->store, name, err) < 0)
                return -1;
        /* … and the image store while any overlay on disk is backed by it. */
        if (img_delete(svc->images, name, err) < 0) {
                orch_store_image_insert(svc->store, row, NULL);
                return -1;
        }
        return 0;
}

/* ---- workspace requests --------------------------------------------------- */

static int check_range(const char *what, uint64_t v, uint64_t lo, uint64_t hi, hd_error *err)
{
        if (v < lo || v > hi)
                return hd_error_set(err, HD_E_INVALID, "%s must be between %llu and %llu, not %llu", what,
                                    (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)v);
        return 0;
}

static int check_create(orch_service *svc, orch_create_req *r, hd_error *err)
{
        _cleanup_(orch_image_freep) orch_image *img = NULL;
        uint64_t min_disk_gib;

        if (ci_hostname_valid(r->name, err) < 0 || strchr(r->name, '.'))
                return hd_error_set(err, HD_E_INVALID,
                                    "name '%.64s' must be 1-63 lowercase letters, digits or '-', starting with a letter",
                                    r->name);
        if (r->name[0] < 'a' || r->name[0] > 'z')
                return hd_error_set(err, HD_E_INVALID, "name '%.64s' must start with a letter", r->name);
        if (ci_username_valid(r->user, err) < 0)
                return hd_error_prefix(err, "user");
        if (r->n_ssh_keys == 0)
                return hd_error_set(err, HD_E_INVALID, "give at least one SSH public key");
        for (size_t i = 0; i < r->n_ssh_keys; i++)
                if (ci_ssh_key_valid(r->ssh_keys[i], err) < 0)
                        return hd_error_prefix(err, "ssh key %zu", i + 1);
        if (!r->vcpus)
                r->vcpus = svc->p.default_vcpus;
        if (!r->memory_mib)
                r->memory_mib = svc->p.default_memory_mib;
        if (r->gpus > 16)
                return hd_error_set(err, HD_E_INVALID, "gpus must be between 0 and 16, not %u", r->gpus);
        if (r->gpu_numa && strcmp(r->gpu_numa, "required") != 0 && strcmp(r->gpu_numa, "preferred") != 0)
                return hd_error_set(err, HD_E_INVALID, "gpu_numa must be required or preferred, not '%.32s'",
                                    r->gpu_numa);
        if (check_range("vcpus", r->vcpus, 1, svc->p.max_vcpus, err) < 0 ||
            check_range("memory_mib", r->memory_mib, 128, svc->p.max_memory_mib, err) < 0)
                return -1;
        img = orch_store_image_get(svc->store, r->image, err);
        if (!img) {
                if (err && err->code == HD_E_NOT_FOUND)
                        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                            "image '%.64s' does not exist (wsctl images lists them)", r->image);
                return -1;
        }
        min_disk_gib = (img->virtual_size + GiB - 1) / GiB;
        if (!r->disk_gib)
                r->disk_gib = svc->p.default_disk_gib > min_disk_gib ? svc->p.default_disk_gib : min_disk_gib;
        if (r->disk_gib < min_disk_gib)
                return hd_error_set(err, HD_E_INVALID, "disk_gib %llu is smaller than image '%s' (%llu GiB)",
                                    (unsigned long long)r->disk_gib, img->name, (unsigned long long)min_disk_gib);
        return check_range("disk_gib", r->disk_gib, 1, svc->p.max_disk_gib, err);
}

typedef struct policy_choice {
        unsigned idle_timeout_s, lifetime_s;
        bool lifetime_delete;
        char note[256]; /* why the lifetime is shorter than asked, or "" */
} policy_choice;

/* Idle timeout: the request's, else the template's, else the host's
 * default. Lifetime: the request's capped by the template's (orch_policy_lifetime). */
static int policy_settings(orch_service *svc, const orch_create_req *r, const orch_template_choice *tc,
                           policy_choice *out, hd_error *err)
{
        *out = (policy_choice){.lifetime_delete = tc->lifetime_delete};
        if (r->idle_timeout_given)
                out->idle_timeout_s = r->idle_timeout_s;
        else
                out->idle_timeout_s = tc->idle_timeout_s ? tc->idle_timeout_s : svc->p.default_idle_timeout;
        if (out->idle_timeout_s > ORCH_POLICY_MAX_LIFETIME_S)
                return hd_error_set(err, HD_E_INVALID,
                                    "idle_timeout %u s is more than a year; it is given in seconds",
                                    out->idle_timeout_s);
        if (out->idle_timeout_s && out->idle_timeout_s < 60)
                return hd_error_set(err, HD_E_INVALID, "idle_timeout must be 0 (off) or at least 60 s, not %u",
                                    out->idle_timeout_s);
        return orch_policy_lifetime(r->lifetime_s, tc->max_lifetime_s, &out->lifetime_s, out->note,
                                    sizeof(out->note), err);
}

orch_workspace *orch_ws_create(orch_service *svc, const orch_create_req *req, hd_error *err)
{
        orch_create_req r = *req;
        _cleanup_(orch_template_choice_clear) orch_template_choice tc = {0};
        orch_workspace spec = {0}, *ws;
        orch_admission adm;
        policy_choice pol;
        hd_error e = {0};

        /* The guest user defaults to the caller's name, or "dev" where that
         * name cannot be a guest account (root, system users). */
        if (!r.user)
                r.user = r.owner && ci_username_valid(r.owner, NULL) == 0 ? r.owner : "dev";
        if (r.template_name && orch_template_resolve_create(svc, &r, &tc, err) < 0)
                return NULL;
        if (!r.name || !r.image || !r.owner) {
                hd_error_set(err, HD_E_INVALID, "name, image (or template) and owner are required");
                return NULL;
        }
        if (check_create(svc, &r, err) < 0 || policy_settings(svc, &r, &tc, &pol, err) < 0)
                return NULL;
        /* A template's network must exist here before anything is made. */
        if (tc.network && orch_virt_network_check(svc->virt, tc.network, &e) < 0) {
                hd_error_set(err, e.code == HD_E_NOT_FOUND ? HD_E_INVALID : e.code, "template %s: %s",
                             r.template_name, e.message);
                return NULL;
        }
        spec.name = (char *)r.name;
        spec.owner = (char *)r.owner;
        spec.image = (char *)r.image;
        spec.template_name = (char *)r.template_name;
        spec.template_version = tc.hash;
        spec.vcpus = r.vcpus;
        spec.memory_mib = r.memory_mib;
        spec.disk_gib = r.disk_gib;
        spec.ssh_user = (char *)r.user;
        spec.gpu_count = r.gpus;
        spec.gpu_model = (char *)r.gpu_model;
        spec.gpu_numa = (char *)r.gpu_numa;
        /* Admission (quotas, host capacity, the GPU claim) in the row's own
         * transaction: a refusal leaves nothing. */
        if (orch_admission_for(svc, r.gpus, r.owner_groups, r.n_owner_groups, &adm, err) < 0)
                return NULL;
        ws = orch_store_workspace_create_admit(svc->store, &spec, &adm, err);
        if (!ws)
                return NULL;
        if (orch_policy_setup(svc, ws, pol.idle_timeout_s, pol.lifetime_s, pol.lifetime_delete, err) < 0 ||
            (tc.startup_script && orch_startup_setup(svc, ws, tc.startup_timeout_s, err) < 0)) {
                orch_store_transition(svc->store, ws->id, ORCH_WS_ANY, ORCH_WS_DELETING, "no policy", NULL);
                orch_store_transition(svc->store, ws->id, ORCH_WS_ANY, ORCH_WS_DELETED, "no policy", NULL);
                orch_store_workspace_purge(svc->store, ws->id, NULL);
                orch_workspace_free(ws);
                return NULL;
        }
        if (pol.note[0])
                orch_store_event_add(svc->store, ws->id, "lifetime_capped", pol.note, NULL, NULL);
        orch_job_queue(svc, JOB_PROVISION, ws->id, r.user, r.ssh_keys, r.n_ssh_keys);
        return ws;
}

/* Find ref, move it from one of the states in from to state to (admitted,
 * for a start), queue kind (with the reason for its end state when keep_reason). */
static orch_workspace *request_admit(orch_service *svc, const char *ref, unsigned from, orch_ws_state to,
                                     const char *reason, bool keep_reason, bool admit, orch_job_kind kind,
                                     hd_error *err)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = orch_store_workspace_find(svc->store, ref, err);
        orch_admission adm;

        if (!ws)
                return NULL;
        if (ws->state == ORCH_WS_DELETED) {
                hd_error_set(err, HD_E_NOT_FOUND, "workspace '%.64s' is deleted", ref);
                return NULL;
        }
        if (!(from & ORCH_WS_BIT(ws->state))) {
                hd_error_set(err, HD_E_CONFLICT, "workspace '%s' is %s; it cannot be %s now", ws->name,
                             orch_ws_state_name(ws->state), orch_ws_state_name(to));
                return NULL;
        }
        if (admit && orch_admission_for(svc, ws->gpu_count, NULL, 0, &adm, err) < 0)
                return NULL;
        if (orch_store_transition_admit(svc->store, ws->id, ORCH_WS_BIT(ws->state), to, reason,
                                        admit ? &adm : NULL, err) < 0)
                return NULL;
        orch_job_queue_why(svc, kind, ws->id, keep_reason ? reason : NULL);
        return orch_store_workspace_get(svc->store, ws->id, err);
}

static orch_workspace *request_why(orch_service *svc, const char *ref, unsigned from, orch_ws_state to,
                                   const char *reason, bool keep_reason, orch_job_kind kind, hd_error *err)
{
        return request_admit(svc, ref, from, to, reason, keep_reason, false, kind, err);
}

static orch_workspace *request(orch_service *svc, const char *ref, unsigned from, orch_ws_state to,
                               const char *reason, orch_job_kind kind, hd_error *err)
{
        return request_why(svc, ref, from, to, reason, false, kind, err);
}

#define RUNNING_STATES (ORCH_WS_BIT(ORCH_WS_RUNNING) | ORCH_WS_BIT(ORCH_WS_READY))

orch_workspace *orch_ws_start(orch_service *svc, const char *ref, hd_error *err)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = orch_store_workspace_find(svc->store, ref, err);

        /* A stopped workspace holds no vCPU, memory or GPU: the move to
         * starting takes them back (free matching GPUs), or is refused. */
        if (!ws || orch_policy_check_start(svc, ws, err) < 0)
                return NULL;
        return request_admit(svc, ref, ORCH_WS_BIT(ORCH_WS_STOPPED) | ORCH_WS_BIT(ORCH_WS_FAILED),
                             ORCH_WS_STARTING, "start requested", false, true, JOB_START, err);
}

orch_workspace *orch_ws_stop(orch_service *svc, const char *ref, bool force, hd_error *err)
{
        return request(svc, ref, RUNNING_STATES, ORCH_WS_STOPPING,
                       force ? "forced stop requested" : "stop requested", force ? JOB_STOP_FORCE : JOB_STOP,
                       err);
}

orch_workspace *orch_ws_stop_for(orch_service *svc, const char *id, const char *reason, hd_error *err)
{
        return request_why(svc, id, RUNNING_STATES, ORCH_WS_STOPPING, reason, true, JOB_STOP, err);
}

orch_workspace *orch_ws_restart(orch_service *svc, const char *ref, hd_error *err)
{
        return request(svc, ref, RUNNING_STATES, ORCH_WS_STOPPING, "restart requested", JOB_RESTART, err);
}

#define ANY_BUT_DELETED \
        (((1u << ORCH_WS__STATE_COUNT) - 1) & ~ORCH_WS_BIT(ORCH_WS_DELETED) & ~ORCH_WS_BIT(ORCH_WS_DELETING))

orch_workspace *orch_ws_delete(orch_service *svc, const char *ref, hd_error *err)
{
        return request(svc, ref, ANY_BUT_DELETED, ORCH_WS_DELETING, "delete requested", JOB_DELETE, err);
}

orch_workspace *orch_ws_delete_for(orch_service *svc, const char *id, const char *reason, hd_error *err)
{
        return request_why(svc, id, ANY_BUT_DELETED, ORCH_WS_DELETING, reason, true, JOB_DELETE, err);
}

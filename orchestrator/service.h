/* service.h — the workspace service: what the API asks of the orchestrator.
 *
 * Requests (create, start, stop, restart, delete) are checked and their first
 * state change committed at once; the slow part (clone, inject, boot, shut
 * down) becomes a job handed to the executor the daemon installs, so the API
 * never waits on a VM or a libguestfs launch. Jobs for one workspace run one
 * at a time. Startup reconciliation and the agent link live here too. */
#pragma once

#include "common/error.h"
#include "images/images.h"
#include "orchestrator/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orch_service orch_service;

typedef struct orch_params {
        const char *state_dir;     /* images/, disks/ and hostd.db */
        const char *run_dir;       /* agents/<id>.sock */
        const char *log_dir;       /* <id>.console.log */
        const char *libvirt_uri;
        const char *virt_type;     /* auto, kvm, qemu */
        const char *network;       /* exactly one of network and bridge */
        const char *bridge;
        const char *agent_binary;
        uint64_t max_image_size;   /* bytes */
        unsigned default_vcpus, max_vcpus;
        uint64_t default_memory_mib, max_memory_mib;
        uint64_t default_disk_gib, max_disk_gib;
        unsigned agent_hello_timeout; /* seconds from running to the agent's hello */
        unsigned stop_timeout;        /* seconds of ACPI grace before a forced stop */
        const char *gpu_sysfs_root;   /* /sys, or a fixture tree in tests */
        const char *gpu_pci_ids;
        const char *gpu_kernel_cmdline;
        uint64_t hugepages_min_memory_mib; /* 0: never back guests with hugepages */
        bool gpu_rom_bar_off;         /* <rom bar='off'/> on passed-through functions */
        unsigned default_idle_timeout; /* seconds; idle auto-stop when neither template nor request says; 0 off */
        /* Host capacity (docs/quotas.md): what all workspaces together may hold. */
        double vcpu_overcommit;       /* vCPUs per host CPU; 0: 4.0 */
        double memory_overcommit;     /* 0: 1.0 */
        uint64_t reserved_memory_mib; /* kept for the host itself */
        unsigned host_cpus;           /* 0: the system's online CPUs (tests set it) */
        uint64_t host_memory_mib;     /* 0: the system's memory (tests set it) */
        unsigned lifetime_warning;     /* seconds before a lifetime's end of the lifetime_warning event; 0 none */
        unsigned idle_cpu_percent;     /* load1 below this % of the vCPUs is idle; 0: the engine's default (5) */
        unsigned idle_gpu_percent;     /* GPU utilisation below this % is idle; 0: the engine's default (10) */
} orch_params;

/* The executor runs fn(ctx, arg) later on a worker thread, then free_arg(arg);
 * ctx is the service. (hostd_workers_submit has exactly this shape.) */
typedef void (*orch_submit_fn)(void *executor, void (*fn)(void *ctx, void *arg), void *ctx, void *arg,
                               void (*free_arg)(void *));

orch_service *orch_service_open(const orch_params *p, hd_error *err);
void orch_service_close(orch_service *svc);
/* Install the executor; without one, jobs run at once in the caller (tests). */
void orch_service_set_executor(orch_service *svc, orch_submit_fn submit, void *executor);
/* "kvm" or "qemu": what domains are defined with on this host. */
const char *orch_service_virt_type(orch_service *svc);
orch_store *orch_service_store(orch_service *svc);
/* Its workspace events as they are committed (orchestrator/events.h). */
typedef struct orch_events orch_events;
orch_events *orch_service_events(orch_service *svc);
/* Whether libvirt answers now (for /v1/health); fills err when not. */
bool orch_service_libvirt_ok(orch_service *svc, hd_error *err);
/* The host's capacity as read at open (quota.h). */
void orch_service_capacity(orch_service *svc, orch_host_capacity *out);

/* ---- images --------------------------------------------------------------- */
int orch_image_import(orch_service *svc, const img_import_req *req, orch_image **out, hd_error *err);
int orch_image_delete(orch_service *svc, const char *name, hd_error *err);

/* ---- workspaces ----------------------------------------------------------- */
typedef struct orch_create_req {
        const char *name;          /* also the guest hostname */
        const char *image;         /* NULL with a template: the template's */
        const char *template_name; /* NULL: none; else its current version is used */
        const char *owner;         /* who asks: the API caller (or the user an admin acts for) */
        const char *const *owner_groups; /* the owner's groups (quotas, template groups) */
        size_t n_owner_groups;
        bool bypass_template_groups; /* an admin: a template's groups do not restrict it */
        const char *user;          /* guest user; NULL = owner */
        const char *const *ssh_keys;
        size_t n_ssh_keys;
        unsigned vcpus;            /* 0 = default */
        uint64_t memory_mib;       /* 0 = default */
        uint64_t disk_gib;         /* 0 = default (at least the image's size) */
        unsigned gpus;             /* whole GPUs passed through (VFIO) */
        bool gpus_given;           /* with a template: gpus overrides the template's */
        const char *gpu_model;     /* "H100" or "10de:2330"; NULL = any */
        const char *gpu_numa;      /* "required", "preferred" or NULL (preferred) */
        bool idle_timeout_given;   /* idle_timeout_s replaces the template's / host's default */
        unsigned idle_timeout_s;   /* 0 with idle_timeout_given: no idle auto-stop */
        unsigned lifetime_s;       /* 0: the template's; capped by the template's max_lifetime */
} orch_create_req;

/* Check the request, commit the row (state pending) with its admission
 * (quotas, host capacity, GPU claim: orch_store_workspace_create_admit) and
 * queue provisioning. A template that names groups is refused (HD_E_FORBIDDEN)
 * to an owner in none of them, unless bypass_template_groups. */
orch_workspace *orch_ws_create(orch_service *svc, const orch_create_req *req, hd_error *err);
/* Each commits its first state change, queues the rest and returns the row.
 * A start (and the start half of a restart) is admitted again: quotas and
 * host capacity for vCPUs, memory and GPUs, with the GPUs claimed, in the
 * move to starting (orch_store_transition_admit). */
orch_workspace *orch_ws_start(orch_service *svc, const char *ref, hd_error *err);
orch_workspace *orch_ws_stop(orch_service *svc, const char *ref, bool force, hd_error *err);
orch_workspace *orch_ws_restart(orch_service *svc, const char *ref, hd_error *err);
orch_workspace *orch_ws_delete(orch_service *svc, const char *ref, hd_error *err);

/* ---- idle auto-stop and lifetimes (docs/idle-and-lifetimes.md) ------------- */
typedef struct orch_ws_idle_info {
        bool has_policy;           /* false: neither idle stop nor a lifetime */
        unsigned idle_timeout_s;   /* 0: no idle stop */
        int64_t idle_deadline;     /* earliest idle stop; 0: none (off, not running) */
        bool silent;               /* the agent is flagged silent */
        char description[512];     /* orch_policy_describe's line */
        int64_t lifetime_end;      /* 0: no lifetime */
        bool lifetime_delete;      /* at its end: delete (else stop) */
} orch_ws_idle_info;

/* ws's idle and lifetime figures now: 1 filled, 0 when it has no policy. */
int orch_ws_policy_info(orch_service *svc, const orch_workspace *ws, orch_ws_idle_info *out,
                        hd_error *err);
/* No idle stop before now + seconds (orch_policy_extend's refusals); HD_E_CONFLICT
 * for a workspace without idle stop. */
orch_workspace *orch_ws_extend(orch_service *svc, const char *ref, unsigned seconds, hd_error *err);

/* ---- a template's startup script (the run is orch_store_startup_get's) ------- */
/* One line for the API and wsctl: "succeeded (exit 0) after 12 s, at 14:03
 * UTC", "running since 14:02 UTC (time limit 1 h)", "failed (exit 3) …",
 * "timed out (time limit 1 h) (killed by signal 15) …", and its note. */
void orch_startup_describe(const orch_ws_startup *su, int64_t now, char *out, size_t out_len);

/* ---- templates (orchestrator/template.h has the format) --------------------- */
#include "orchestrator/template.h"

/* Validate a template's JSON and store it as a version of its name (see
 * orch_store_template_push for re-pushes). A bad template: -1 with
 * HD_E_INVALID ("3 errors") and every error in errs (caller clears), and
 * nothing stored. *out (may be NULL) gets the stored version. */
int orch_template_push(orch_service *svc, const char *json, size_t len, const char *pushed_by,
                       orch_template_version **out, bool *created, orch_template_errors *errs,
                       hd_error *err);
/* Load every template of dir (orch_template_load_dir: all or none) and push
 * each whose content is not stored yet (a stored one, even older, is left
 * as it is, so a restart never undoes a later push); *n_pushed counts the
 * new versions. A missing dir loads nothing. */
int orch_template_load(orch_service *svc, const char *dir, size_t *n_pushed,
                       orch_template_errors *errs, hd_error *err);
/* A stored version (hash NULL: the current one) parsed back. */
orch_template *orch_template_version_parse(orch_service *svc, const char *name, const char *hash,
                                           hd_error *err);
/* The diff of two versions of name (from NULL: the version before the
 * current one; to NULL: the current one); *from_out, *to_out get the hashes
 * used and *text the diff (caller frees all three). */
int orch_template_diff_versions(orch_service *svc, const char *name, const char *from,
                                const char *to, char **from_out, char **to_out, char **text,
                                hd_error *err);

/* ---- GPUs ------------------------------------------------------------------ */
#include "orchestrator/gpu.h"

/* Read the inventory again and bring the store in step (start, on request). */
int orch_gpu_refresh(orch_service *svc, hd_error *err);
/* Each GPU of the inventory with its state: "free", "assigned" (holder set),
 * "quarantined" or "unusable" (reason set). *host_problem: why the host
 * refuses passthrough altogether, or NULL (caller frees). */
typedef void (*orch_gpu_visit)(void *ctx, const orch_gpu *gpu, const char *state, const char *holder,
                               const char *reason);
int orch_gpus_foreach(orch_service *svc, orch_gpu_visit visit, void *ctx, char **host_problem, hd_error *err);
/* An admin clears a quarantined GPU. */
int orch_gpu_clear(orch_service *svc, const char *address, hd_error *err);

/* ---- startup reconciliation ---------------------------------------------- */
/* Compare the store, libvirt's hostd domains and the overlays on disk, and
 * finish or undo what a crash interrupted. Each action taken is reported
 * through report(ctx, line) so the daemon can log it; returns the count. */
int orch_reconcile(orch_service *svc, void (*report)(void *ctx, const char *line), void *ctx,
                   hd_error *err);

/* ---- agent link ------------------------------------------------------------ */
/* One round of the agent link: connect to the agent sockets of running
 * workspaces, read what agents said (hello, ready, heartbeat) for up to
 * timeout_ms, act on it, and fail workspaces whose agent never said hello
 * within agent_hello_timeout. Every 15 s a round also runs the idle and
 * lifetime engine over every workspace with a policy and acts on it.
 * Called in a loop by one daemon thread. Events worth a log line are
 * reported through report. */
void orch_agents_poll(orch_service *svc, int timeout_ms, void (*report)(void *ctx, const char *line),
                      void *ctx);
/* Close every agent connection (at shutdown). */
void orch_agents_close(orch_service *svc);

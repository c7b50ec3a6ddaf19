/* service-internal.h — what service.c, jobs.c, reconcile.c and agentlink.c
 * share: the service itself and its per-workspace job lock. */
#pragma once

#include "orchestrator/orchestrator.h"
#include "orchestrator/policy.h"
#include "orchestrator/service.h"

#include <pthread.h>

struct orch_agents; /* agentlink.c */

struct orch_service {
        orch_params p;             /* strings owned (copied at open) */
        orch_store *store;
        orch_events *events;       /* the store's commits, to subscribers (events.h) */
        img_store *images;
        orch_virt *virt;
        const char *virt_type;     /* "kvm" or "qemu" */
        char *agents_dir;          /* run_dir/agents */
        orch_submit_fn submit;
        void *executor;
        /* Ids of workspaces with a job running: one job per workspace at a time. */
        pthread_mutex_t busy_lock;
        pthread_cond_t busy_cond;
        char **busy;
        size_t n_busy, cap_busy;
        struct orch_agents *agents;
        pthread_mutex_t gpu_lock;  /* guards gpus */
        orch_gpu_list gpus;        /* the last inventory */
        pthread_mutex_t policy_lock; /* a policy state's read-modify-write (idle.c) */
        int64_t last_sweep;        /* agent thread only */
        orch_host_capacity host;   /* read at open */
};

/* What a workspace's GPUs add to its domain. */
typedef struct orch_gpu_parts {
        orch_domain_hostdev *hostdevs; /* every function of every held card */
        size_t n_hostdevs;
        int numa_node;                 /* -1: the GPUs share no node */
        unsigned *pin_cpus;
        size_t n_pin_cpus;
} orch_gpu_parts;

/* 0, or HD_E_NO_RESOURCES when count > 0 GPUs are asked of a host that
 * cannot pass any through (TCG, no IOMMU, ACS override). */
int orch_gpu_host_check(orch_service *svc, unsigned count, hd_error *err);

/* quota-service.c: the host's capacity from p (or the system) at open, and
 * the admission of a request for gpu_count GPUs (groups: the owner's, for a
 * create; a start uses those kept on the row). */
void orch_capacity_init(orch_service *svc, const orch_params *p);
int orch_admission_for(orch_service *svc, unsigned gpu_count, const char *const *groups, size_t n_groups,
                       orch_admission *adm, hd_error *err);
int orch_gpu_domain_parts(orch_service *svc, const char *id, orch_gpu_parts *parts, hd_error *err);
void orch_gpu_parts_clear(orch_gpu_parts *parts);
void orch_gpu_quarantine_on_reset_failure(orch_service *svc, const char *id, const char *libvirt_message);

/* Where a workspace's files live (caller frees). */
char *orch_agent_socket_path(orch_service *svc, const char *id);
char *orch_console_log_path(orch_service *svc, const char *id);

/* Wait until no job holds id, then hold it; release lets the next one in. */
void orch_ws_lock(orch_service *svc, const char *id);
void orch_ws_unlock(orch_service *svc, const char *id);

/* Remove what a workspace has on the host: domain (destroyed and undefined),
 * overlay, agent socket, console log. Missing pieces are not errors. */
int orch_ws_teardown(orch_service *svc, const char *id, hd_error *err);

/* Tear down, move deleting -> deleted and drop the row (events stay). */
int orch_ws_finish_delete(orch_service *svc, const char *id, hd_error *err);

/* Move to failed with reason, logging nothing (callers report). */
void orch_ws_fail(orch_service *svc, const char *id, const char *reason);

/* Queue a job for a workspace (runs at once without an executor). */
typedef enum { JOB_PROVISION, JOB_START, JOB_STOP, JOB_STOP_FORCE, JOB_RESTART, JOB_DELETE } orch_job_kind;
void orch_job_queue(orch_service *svc, orch_job_kind kind, const char *id, const char *user,
                    const char *const *ssh_keys, size_t n_keys);

/* Queue a stop (JOB_STOP) or delete whose end state keeps reason. */
void orch_job_queue_why(orch_service *svc, orch_job_kind kind, const char *id, const char *reason);
/* The stop and delete requests, made by hostd itself with reason. */
orch_workspace *orch_ws_stop_for(orch_service *svc, const char *id, const char *reason, hd_error *err);
orch_workspace *orch_ws_delete_for(orch_service *svc, const char *id, const char *reason, hd_error *err);

/* idle.c: a new workspace's settings and engine state; then each start,
 * stop and heartbeat (the heartbeat's JSON, the domain's vCPUs). */
int orch_policy_setup(orch_service *svc, const orch_workspace *ws, unsigned idle_timeout_s,
                      unsigned lifetime_s, bool lifetime_delete, hd_error *err);
void orch_policy_on_start(orch_service *svc, const char *id);
/* HD_E_CONFLICT once ws's lifetime has ended (orch_policy_may_start). */
int orch_policy_check_start(orch_service *svc, const orch_workspace *ws, hd_error *err);
void orch_policy_on_stop(orch_service *svc, const char *id);
struct json_t;
void orch_policy_on_heartbeat(orch_service *svc, const char *id, struct json_t *hb, unsigned vcpus);
/* Run the engine over every workspace with a policy, at most every 15 s
 * (orch_agents_poll calls it), acting on its answers; report logs them. */
void orch_policy_sweep(orch_service *svc, void (*report)(void *ctx, const char *line), void *ctx);

/* Generate a fresh agent token (64 hex chars) and its SHA-256 hex. */
int orch_token_new(char token[65], char hash[65], hd_error *err);
/* Constant-time check of a token against a stored hash. */
bool orch_token_matches(const char *token, const char *hash);
/* The SHA-256 of s, lower-case hex (token.c: the one place hashing is done). */
void orch_sha256_hex(const char *s, char hash[65]);

/* What a create request takes from a template's current version (strings
 * owned; r's image and gpu_model point into them). */
typedef struct orch_template_choice {
        char *image, *gpu_model, *hash;
        unsigned idle_timeout_s, max_lifetime_s;
        bool lifetime_delete;
        bool startup_script;         /* it has one */
        unsigned startup_timeout_s;  /* 0: the agent's default */
        char *network;               /* the template's libvirt network, or NULL */
} orch_template_choice;
void orch_template_choice_clear(orch_template_choice *c);
/* Fill r's size, image and GPUs from template r->template_name's current
 * version and r's overrides (vcpus, memory_mib, disk_gib when not 0; gpus
 * when gpus_given), checked against the template's ranges. */
int orch_template_resolve_create(orch_service *svc, orch_create_req *r, orch_template_choice *c,
                                 hd_error *err);
/* What ws's template version puts into its guest. */
typedef struct orch_template_guest {
        struct json_t *cloud_config; /* an object, {} when none (owned) */
        char *startup_script;        /* NULL when none */
        unsigned startup_timeout_s;  /* 0: the agent's default */
        char *network, *bridge;      /* where its NIC goes; both NULL: hostd's default */
} orch_template_guest;
int orch_template_guest_for(orch_service *svc, const orch_workspace *ws, orch_template_guest *out,
                            hd_error *err);
void orch_template_guest_clear(orch_template_guest *g);

/* startup.c: the pending row of a workspace whose template has a startup
 * script; then each "startup" message of its agent (said[] gets a line worth
 * logging, or ""). */
int orch_startup_setup(orch_service *svc, const orch_workspace *ws, unsigned timeout_s, hd_error *err);
void orch_startup_on_report(orch_service *svc, const char *id, struct json_t *msg, char *said,
                            size_t said_len);

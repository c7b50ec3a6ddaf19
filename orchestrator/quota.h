/* quota.h — per-user and per-group limits and host capacity (prefix
 * orch_quota_, orch_admission).  docs/quotas.md says the same for people.
 *
 * A limit is set on a user or on a group, per resource: workspaces, vCPUs,
 * memory (MiB), disk (GiB), and GPUs per model ("H100": 3; the model "any"
 * counts every GPU).  A user's limit for a resource is the one set on the
 * user, else the largest of the limits set on its groups, else none
 * (unlimited).  Group limits are per member, not a pool shared by the group.
 *
 * What counts ("use"), for the owner's workspaces:
 *   workspaces, disk: every workspace not deleting or deleted (stopped and
 *                     failed ones too: their disk stays);
 *   vCPUs, memory:    every workspace in a state that holds a domain, or is
 *                     about to: pending, provisioning, running, ready,
 *                     starting, stopping (ORCH_QUOTA_HOLDING);
 *   GPUs:             the GPUs the workspaces hold now (a stopped or failed
 *                     one holds none), counted for a model when the GPU
 *                     matches it as a model filter does (orch_gpu_row_matches).
 * Host capacity counts vCPUs and memory of every owner's holding workspaces.
 *
 * Admission is decided inside the store transaction that inserts the row
 * (create) or moves it to starting (start, restart), together with its GPU
 * claim: concurrent requests cannot overshoot, and a refusal leaves nothing.
 * A refused quota is HD_E_FORBIDDEN (403), host capacity HD_E_NO_RESOURCES
 * (503); the message names what is exceeded and by how much:
 *   "GPU quota for H100: 2 in use + 2 requested > 3 (limit of group ml)". */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORCH_QUOTA_NAME_MAX 64   /* a user's or group's name */
#define ORCH_QUOTA_MODEL_MAX 64  /* a GPU model filter */
#define ORCH_QUOTA_LIMITS_MAX 64 /* limits set on one user or group */
#define ORCH_QUOTA_ANY_GPU "any" /* the GPU model that matches every GPU */

typedef enum orch_quota_scope {
        ORCH_QUOTA_USER,
        ORCH_QUOTA_GROUP,
} orch_quota_scope;

typedef enum orch_quota_kind {
        ORCH_QUOTA_WORKSPACES,
        ORCH_QUOTA_VCPUS,
        ORCH_QUOTA_MEMORY, /* MiB */
        ORCH_QUOTA_DISK,   /* GiB */
        ORCH_QUOTA_GPUS,   /* of one model */
        ORCH_QUOTA__KIND_COUNT
} orch_quota_kind;

/* "user" / "group"; the JSON field of a kind: "workspaces", "vcpus",
 * "memory_mib", "disk_gib", "gpus". */
const char *orch_quota_scope_name(orch_quota_scope s);
const char *orch_quota_kind_name(orch_quota_kind k);

/* One limit. */
typedef struct orch_quota_limit {
        orch_quota_kind kind;
        char *gpu_model;   /* ORCH_QUOTA_GPUS only: "H100", "10de:2330" or "any" */
        uint64_t value;    /* count; memory in MiB; disk in GiB; 0 allowed (none at all) */
} orch_quota_limit;

/* The limits set on one user or group. */
typedef struct orch_quota_set {
        orch_quota_scope scope;
        char *name;
        orch_quota_limit *limits; /* kinds in enum order, GPU models by name */
        size_t n_limits;
        int64_t updated_at;
} orch_quota_set;

typedef struct orch_quota_set_list {
        orch_quota_set *items;    /* users then groups, each by name */
        size_t count;
} orch_quota_set_list;

void orch_quota_set_clear(orch_quota_set *s);
void orch_quota_set_list_free(orch_quota_set_list *l);

/* A user's or group's name: 1-64 of letters, digits, '.', '_', '-', '@',
 * not starting with '.', '-' or '@'. HD_E_INVALID saying so. */
int orch_quota_name_check(const char *what, const char *name, hd_error *err);
/* A GPU model key: 1-64 of letters, digits, ' ', '.', '_', ':', '-', no
 * space at either end. */
int orch_quota_model_check(const char *model, hd_error *err);
/* Check a set's limits (models valid, no kind or model twice, at most
 * ORCH_QUOTA_LIMITS_MAX, at least one) and sort them. */
int orch_quota_limits_check(orch_quota_limit *limits, size_t n, hd_error *err);

/* One resource as it applies to one user: its limit, where it comes from,
 * its use and (in an admission) what is asked. */
typedef struct orch_quota_entry {
        orch_quota_kind kind;
        char *gpu_model;          /* ORCH_QUOTA_GPUS */
        bool limited;             /* false: no limit set anywhere */
        uint64_t limit;
        orch_quota_scope source;  /* where the limit is set, when limited */
        char *source_name;
        uint64_t used;
        uint64_t requested;
} orch_quota_entry;

/* The limits in effect for a user: workspaces, vcpus, memory, disk, GPUs of
 * model "any", then one entry per other GPU model limited, by model. */
typedef struct orch_quota_report {
        orch_quota_entry *items;
        size_t count;
} orch_quota_report;

void orch_quota_report_free(orch_quota_report *r);

/* Resolve the limits of user from sets (those of the user itself and of its
 * groups; others are ignored): per resource, the user's own, else the
 * largest of its groups' (ties: the first group by name), else unlimited.
 * Fills out with used and requested at 0. */
void orch_quota_resolve(const char *user, const char *const *groups, size_t n_groups,
                        const orch_quota_set *sets, size_t n_sets, orch_quota_report *out);

/* 0 when every limited entry has used + requested <= limit (entries with
 * nothing requested pass: a lowered limit never stops what runs), else -1
 * with HD_E_FORBIDDEN for the first one over, in report order:
 *   "vCPU quota: 6 in use + 4 requested > 8 (limit of group ml)". */
int orch_quota_check(const orch_quota_report *r, hd_error *err);

/* ---- host capacity ----------------------------------------------------- */

/* What the host offers all workspaces together. */
typedef struct orch_host_capacity {
        unsigned cpus;             /* host CPUs; 0: no vCPU check */
        double vcpu_overcommit;    /* vCPUs per host CPU */
        uint64_t memory_mib;       /* host memory; 0: no memory check */
        uint64_t reserved_mib;     /* kept for the host itself */
        double memory_overcommit;
} orch_host_capacity;

/* The vCPUs and MiB workspaces may hold together (UINT64_MAX: unchecked). */
uint64_t orch_host_vcpu_limit(const orch_host_capacity *c);
uint64_t orch_host_memory_limit(const orch_host_capacity *c);

/* 0 when used + requested fits both limits, else -1 with HD_E_NO_RESOURCES:
 *   "host vCPU capacity: 30 in use + 4 requested > 32 (8 CPUs x vcpu_overcommit 4)". */
int orch_host_check(const orch_host_capacity *c, uint64_t vcpus_used, unsigned vcpus_requested,
                    uint64_t memory_used_mib, uint64_t memory_requested_mib, hd_error *err);

/* ---- admission (the store applies it: store.h) --------------------------- */

typedef struct orch_admission {
        /* create: the owner's groups, kept on the row for its later starts;
         * a start uses the groups kept on the row and ignores these. */
        const char *const *groups;
        size_t n_groups;
        orch_host_capacity host;
} orch_admission;

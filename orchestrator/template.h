/* template.h — workspace templates as code (prefix orch_template_).
 *
 * A template is a JSON file (schema: docs/templates.md) naming the image,
 * the machine's size, GPUs, network, extra cloud-config, a startup script,
 * idle and lifetime policy, the groups that may use it, and the parameters a
 * user may override within ranges.  This part of orchestrator/ is pure: it
 * parses and validates (collecting every error, each with a field path and a
 * reason), serializes to a canonical form whose SHA-256 is the version's
 * identity, resolves a user's overrides, diffs two versions, and loads a
 * directory all-or-nothing.  It touches no store and no libvirt. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORCH_TEMPLATE_NAME_MAX 63           /* [a-z0-9][a-z0-9-]{0,62} */
#define ORCH_TEMPLATE_FILE_MAX (1u << 20)   /* bytes of a template's JSON text */
#define ORCH_TEMPLATE_SCRIPT_MAX (64u << 10) /* bytes of startup_script */
#define ORCH_TEMPLATE_STARTUP_TIMEOUT_MAX (7u * 24 * 3600) /* seconds of startup_timeout */
#define ORCH_TEMPLATE_CLOUD_CONFIG_MAX (64u << 10) /* bytes of cloud_config as JSON */
#define ORCH_TEMPLATE_GPUS_MAX 16
#define ORCH_TEMPLATE_GROUPS_MAX 64
#define ORCH_TEMPLATE_ERRORS_MAX 50         /* errors kept; one more line counts the rest */

/* ---- errors: every problem found, not just the first --------------------- */

typedef struct orch_template_error {
        char *file;   /* the file's name (orch_template_load_dir), else NULL */
        char *path;   /* "gpus.count", "groups[1]", "parameters.disk.max", "json", "template" */
        char *reason; /* "must be between 0 and 16" */
} orch_template_error;

typedef struct orch_template_errors {
        orch_template_error *v;
        size_t n;       /* entries in v, at most ORCH_TEMPLATE_ERRORS_MAX + 1 */
        size_t dropped; /* errors found beyond the cap (counted in v's last entry) */
} orch_template_errors;

void orch_template_errors_clear(orch_template_errors *e);
/* One line per error, "[file: ]path: reason\n" (caller frees; "" when none). */
char *orch_template_errors_format(const orch_template_errors *e);

/* ---- a parsed, valid template (read-only for callers) -------------------- */

typedef enum orch_template_numa {
        ORCH_TEMPLATE_NUMA_PREFERRED = 0, /* default */
        ORCH_TEMPLATE_NUMA_REQUIRED,
} orch_template_numa;

typedef enum orch_template_lifetime_action {
        ORCH_TEMPLATE_LIFETIME_STOP = 0, /* default */
        ORCH_TEMPLATE_LIFETIME_DELETE,
} orch_template_lifetime_action;

/* What a user may override: min..max inclusive; set false = not overridable. */
typedef struct orch_template_range {
        bool set;
        uint64_t min, max; /* vcpus/gpus: counts; memory/disk: bytes; lifetime: seconds */
} orch_template_range;

typedef struct orch_template {
        char *name;
        char *description;    /* NULL when absent */
        char *image;
        unsigned vcpus;       /* 1 .. ORCH_VCPUS_MAX */
        uint64_t memory;      /* bytes, a whole number of MiB */
        uint64_t disk;        /* bytes, a whole number of GiB */
        unsigned gpu_count;   /* 0 .. ORCH_TEMPLATE_GPUS_MAX */
        char *gpu_model;      /* a model filter ("H100", "10de:2330"); NULL: any */
        orch_template_numa gpu_numa;
        char *network;        /* a libvirt network, or ... */
        char *bridge;         /* ... a host bridge; both NULL: the host's default */
        char *cloud_config;   /* canonical JSON of an object merged into user-data; NULL when absent */
        char *startup_script; /* NULL when absent */
        uint64_t startup_timeout; /* seconds the script may run; 0: the agent's default (1 h) */
        uint64_t idle_timeout; /* seconds; 0: off */
        uint64_t max_lifetime; /* seconds; 0: no limit */
        orch_template_lifetime_action lifetime_action;
        char **groups;        /* sorted, distinct; none: everyone may use it */
        size_t n_groups;
        struct {
                orch_template_range vcpus, memory, disk, gpus, lifetime; /* lifetime.min is 1 */
        } params;
} orch_template;

/* Parse and validate a template's JSON text.  On success *out gets a new
 * template (free with orch_template_free) and 0 is returned.  On any problem
 * -1 is returned, *out is left NULL, and errs (cleared first) holds every
 * error found: unknown fields (anywhere but inside cloud_config), wrong
 * types, values out of range, bad names, min above max, a template value
 * outside its own parameter range, both network and bridge, …  A JSON syntax
 * error or a duplicate key stops parsing: it is then the only error. */
int orch_template_parse(const char *json_text, size_t len, orch_template **out,
                        orch_template_errors *errs);
void orch_template_free(orch_template *t);

/* The canonical serialization (caller frees): compact JSON, keys sorted at
 * every level, sizes in bytes, durations in seconds, groups sorted, and a
 * field left out when it has its default value.  Whitespace, key order and
 * spelling ("64G" or "65536M") do not change it; any change of meaning does.
 * It is itself a valid template that parses back to the same canonical text. */
char *orch_template_canonical_json(const orch_template *t);
/* A version's identity: the SHA-256 (lower-case hex) of the canonical JSON. */
void orch_template_hash(const orch_template *t, char out[65]);

/* ---- using a template ------------------------------------------------------ */

/* What a user asks to change; a field counts only when its has_ flag is set. */
typedef struct orch_template_overrides {
        bool has_vcpus, has_memory, has_disk, has_gpus, has_lifetime;
        unsigned vcpus;
        uint64_t memory;   /* bytes */
        uint64_t disk;     /* bytes */
        unsigned gpus;
        uint64_t lifetime; /* seconds */
} orch_template_overrides;

/* The effective size and policy of one workspace made from a template. */
typedef struct orch_template_resolved {
        unsigned vcpus;
        uint64_t memory;   /* bytes, a whole number of MiB */
        uint64_t disk;     /* bytes, a whole number of GiB */
        unsigned gpus;
        uint64_t lifetime; /* seconds; 0: no limit */
        orch_template_lifetime_action lifetime_action;
} orch_template_resolved;

/* Template values, replaced by each override the template allows within its
 * range.  o may be NULL.  Any other override is refused with HD_E_INVALID,
 * every refusal named in the one message ("disk 600G is above the
 * template's maximum 500G; vcpus cannot be changed: the template does not
 * allow it"); *out is filled only on success. */
int orch_template_apply(const orch_template *t, const orch_template_overrides *o,
                        orch_template_resolved *out, hd_error *err);

/* May a user in these groups use the template?  True when the template
 * names no groups, or when one of groups is among them. */
bool orch_template_usable_by(const orch_template *t, const char *const *groups, size_t n);

/* A readable field-by-field diff from a to b, one line per changed field
 * ("memory: 32G -> 64G\n"); "" when they mean the same (caller frees).
 * cloud_config is compared key by key; startup_script by lines. */
char *orch_template_diff(const orch_template *a, const orch_template *b);

/* ---- a directory of templates ---------------------------------------------- */

typedef struct orch_template_set {
        orch_template **v; /* sorted by name */
        size_t n;
} orch_template_set;

/* Load every "*.json" in dir (names starting with '.' and anything that is
 * not a regular file are skipped).  Each file must be named <name>.json
 * after the template's name.  All files are checked before anything is
 * returned: on any error -1, out stays empty and errs lists every error of
 * every file (each entry's file set).  An empty directory gives an empty set. */
int orch_template_load_dir(const char *dir, orch_template_set *out, orch_template_errors *errs);
/* The template of that name in set, or NULL. */
const orch_template *orch_template_set_find(const orch_template_set *set, const char *name);
void orch_template_set_clear(orch_template_set *set);

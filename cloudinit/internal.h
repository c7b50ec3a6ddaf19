/* internal.h — declarations shared by the files of cloudinit/ (not public). */
#pragma once

#include "cloudinit/cloudinit.h"

#include <jansson.h>

/* ---- validate.c ---------------------------------------------------------------- */

/* what: the field's name in messages. [A-Za-z0-9][A-Za-z0-9._-]{0,127} */
int ci_ident_valid(const char *what, const char *s, hd_error *err);
/* [A-Za-z0-9._~+/=-]{16,512} */
int ci_token_valid(const char *token, hd_error *err);
/* Describe byte c for a message: "'x'" when printable ASCII, else "byte 0xNN". */
const char *ci_describe_byte(unsigned char c, char buf[16]);

/* ---- merge.c ------------------------------------------------------------------- */

/* Merge a template's cloud-config (tmpl, not modified) into base, hostd's own
 * cloud-config for the workspace user `username`, with the rules written in
 * cloudinit.h (ci_request.extra_cloud_config). */
int ci_merge_cloud_config(json_t *base, const json_t *tmpl, const char *username,
                          hd_error *err);
/* Refuse values that YAML would not read back as the same JSON data however
 * they are escaped: keys over 256 bytes (PyYAML cannot read keys over 1024
 * characters) and reals that jansson prints without a decimal point or
 * without an exponent sign (YAML 1.1 reads "1e22" and "1.5e300" as strings).
 * what names the document in messages. */
int ci_yaml_safe(const json_t *v, const char *what, hd_error *err);

/* ---- inject.c / guestfs.c: what goes into the guest, and the one file that writes it */

typedef enum ci_entry_kind {
        CI_ENTRY_DIR,     /* make path (missing parents 0755), chmod mode */
        CI_ENTRY_FILE,    /* write data (len bytes) */
        CI_ENTRY_UPLOAD,  /* copy the host file host_path */
        CI_ENTRY_SYMLINK, /* path -> target */
} ci_entry_kind;

typedef struct ci_entry {
        ci_entry_kind kind;
        const char *path;
        unsigned mode; /* DIR, FILE, UPLOAD; owner is always root:root */
        const char *data;
        size_t len;
        const char *host_path;
        const char *target;
} ci_entry;

#define CI_PLAN_MAX 16

typedef struct ci_plan {
        ci_entry entries[CI_PLAN_MAX];
        size_t n;
        char *owned[4]; /* strings the plan allocated (token, id and time limit lines) */
} ci_plan;

/* The unit file text of the agent. */
extern const char ci_agent_unit[];

/* Build the list of directories, files and links that ci_inject writes
 * (entries point into req and into plan->owned). */
int ci_plan_build(const ci_inject_req *req, ci_plan *plan, hd_error *err);
void ci_plan_free(ci_plan *plan);

/* guestfs.c: apply a plan to the guest's root file system in one launch. */
int ci_gfs_apply(const char *disk_path, const char *disk_format, const ci_plan *plan,
                 bool force_tcg, hd_error *err);

/* cloudinit.h — the public header of cloudinit/: NoCloud seed rendering and
 * its injection, with the workspace agent, into a guest disk (libguestfs).
 *
 * Rendering is pure (no I/O): a ci_request becomes three strings. Every string
 * is JSON, which is valid YAML, so no user-supplied string can inject YAML;
 * the characters that YAML reads differently inside a quoted string (DEL, C1
 * controls, U+2028, U+2029, U+FEFF, U+FFFE, U+FFFF) are written as \u escapes,
 * so YAML and JSON read the same data.
 * Injection opens the disk once (one libguestfs appliance launch) and writes:
 *
 *   /var/lib/cloud/seed/nocloud/{meta-data,user-data[,network-config]}  0644
 *   /usr/local/lib/hostd/hostd-agent                                    0755
 *   /etc/systemd/system/hostd-agent.service                             0644
 *   /etc/systemd/system/multi-user.target.wants/hostd-agent.service
 *                                 -> /etc/systemd/system/hostd-agent.service
 *   /etc/hostd-agent/            0700
 *   /etc/hostd-agent/token       0400  the agent token, one line ending in '\n'
 *   /etc/hostd-agent/workspace-id 0644 the workspace id, one line ending in '\n'
 *   /etc/hostd-agent/startup-script  0700 a template's startup script, when it has one
 *   /etc/hostd-agent/startup-timeout 0644 its time limit in seconds, one line
 *
 * all owned by root:root. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

struct json_t; /* jansson's json_t */

#define CI_AGENT_PATH "/usr/local/lib/hostd/hostd-agent"
#define CI_AGENT_UNIT_PATH "/etc/systemd/system/hostd-agent.service"
#define CI_AGENT_TOKEN_PATH "/etc/hostd-agent/token"
#define CI_AGENT_WORKSPACE_ID_PATH "/etc/hostd-agent/workspace-id"
#define CI_AGENT_STARTUP_SCRIPT_PATH "/etc/hostd-agent/startup-script"
#define CI_AGENT_STARTUP_TIMEOUT_PATH "/etc/hostd-agent/startup-timeout"
#define CI_SEED_DIR "/var/lib/cloud/seed/nocloud"
#define CI_STARTUP_SCRIPT_MAX (64u << 10)        /* bytes */
#define CI_STARTUP_TIMEOUT_MAX (7u * 24 * 3600)  /* seconds */

/* ---- validation (each returns 0, or -1 with HD_E_INVALID saying what is wrong) */

/* One OpenSSH public key line: "<type> <base64 body> [comment]". The type is
 * one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521,
 * sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com; the body
 * must decode to a blob of that same type with well-formed fields; the
 * comment is printable ASCII; no control characters anywhere (one key per
 * string, no line breaks, no authorized_keys options). */
int ci_ssh_key_valid(const char *key, hd_error *err);
/* RFC 1123 host name: dot-separated labels of 1-63 lowercase letters, digits
 * and hyphens (no hyphen first or last), 253 characters at most. */
int ci_hostname_valid(const char *hostname, hd_error *err);
/* ^[a-z_][a-z0-9_-]{0,31}$ and not a Debian system user or group name
 * (root, daemon, bin, sys, nobody, sudo, adm, …). */
int ci_username_valid(const char *username, hd_error *err);

/* ---- rendering --------------------------------------------------------------- */

typedef struct ci_request {
        const char *instance_id; /* the workspace id: [A-Za-z0-9._-], 1-128 chars */
        const char *hostname;
        const char *username;
        const char *const *ssh_keys; /* 1..CI_MAX_SSH_KEYS keys */
        size_t n_ssh_keys;
        /* A template's cloud-config object merged into hostd's (may be NULL):
         *  - objects merge recursively;
         *  - arrays are appended after hostd's (packages, runcmd, write_files,
         *    users…: hostd's entries come first);
         *  - any other value from the template replaces hostd's, except the
         *    keys hostd owns: ssh_pwauth and disable_root (a template may only
         *    repeat hostd's value) and the users entry of the workspace user (a
         *    template may add other users, never one with that name);
         *    such a template is refused with HD_E_INVALID naming the key;
         *  - a value of another JSON type than hostd's is refused.
         * Keys are at most 256 bytes; reals that print without a decimal
         * point or exponent sign ("1e22", "1.5e300") are refused, as YAML 1.1
         * reads them as strings. */
        const struct json_t *extra_cloud_config;
        /* A network-config object ({"version": 1|2, …}), or NULL for none. */
        const struct json_t *network_config;
} ci_request;

#define CI_MAX_SSH_KEYS 64

typedef struct ci_seed {
        char *meta_data;      /* JSON: instance-id, local-hostname */
        char *user_data;      /* "#cloud-config\n" + one JSON object */
        char *network_config; /* JSON, or NULL when the request has none */
} ci_seed;

/* Validate the request and render its seed into *out (freed with
 * ci_seed_free). Output is deterministic: sorted keys, 2-space indent,
 * a final newline. */
int ci_render(const ci_request *req, ci_seed *out, hd_error *err);
void ci_seed_free(ci_seed *seed);

/* ---- injection (libguestfs; one appliance launch per call) -------------------- */

typedef struct ci_inject_req {
        const char *disk_path;         /* absolute path of the workspace's overlay */
        const char *disk_format;       /* "qcow2" or "raw" (never probed) */
        const ci_seed *seed;
        const char *agent_binary_path; /* host path of the static agent (required) */
        const char *agent_token;       /* [A-Za-z0-9._~+/=-], 16-512 chars */
        const char *workspace_id;      /* same rules as ci_request.instance_id */
        /* A startup script the agent runs once (NULL: none): starts with "#!",
         * at most CI_STARTUP_SCRIPT_MAX bytes; and its time limit, 1 to
         * CI_STARTUP_TIMEOUT_MAX seconds (0: the agent's default, 1 hour). */
        const char *startup_script;
        unsigned startup_timeout_s;
        bool force_tcg;                /* no KVM for the appliance */
} ci_inject_req;

/* Write the seed, the agent, its unit (enabled), its token and the startup
 * script into the guest's root file system. Errors: HD_E_INVALID (request), HD_E_NOT_FOUND
 * (disk or agent binary missing), HD_E_UNUSABLE_IMAGE (no single Linux root
 * file system), HD_E_GUESTFS (libguestfs failed; the message says at which
 * step). The appliance is shut down cleanly before success is returned, so
 * every write has reached the disk. */
int ci_inject(const ci_inject_req *req, hd_error *err);

/* One file read back from a guest, for tests and debugging. */
typedef struct ci_guest_file {
        bool exists;
        unsigned mode;     /* st_mode: file type and permission bits */
        unsigned uid, gid;
        char *data;        /* regular files: content (len bytes, NUL added); else NULL */
        size_t len;
        char *link_target; /* symbolic links: the link's text (not followed); else NULL */
} ci_guest_file;

#define CI_GUEST_READ_MAX (64u << 20) /* larger regular files: HD_E_TOO_LARGE */

/* Read paths (a NULL-terminated array) from the guest's root file system,
 * mounted read-only, in one appliance launch. files_out has one entry per
 * path; a path that does not exist gets exists == false. Free the entries
 * with ci_guest_files_free. */
int ci_guest_read(const char *disk_path, const char *disk_format, const char *const paths[],
                  ci_guest_file *files_out, bool force_tcg, hd_error *err);
void ci_guest_files_free(ci_guest_file *files, size_t n);

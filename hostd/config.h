/* config.h — hostd's configuration: defaults, the key = value file, checks.
 *
 * The file is /etc/hostd/hostd.conf unless -f names another. Each line is
 * `key = value`, blank, or a `#` comment. Unknown keys, repeated keys and bad
 * values are errors reported as "file:line: message". */
#pragma once

#include "api/api.h"
#include "common/error.h"

#include <stdint.h>
#include <sys/types.h>

#define HOSTD_DEFAULT_CONFIG "/etc/hostd/hostd.conf"

typedef struct hostd_config {
        char *state_dir;      /* images/, disks/ and hostd.db live here */
        char *run_dir;        /* the API socket and per-workspace agent sockets */
        char *log_dir;        /* serial console logs of workspaces */
        char *socket_path;    /* API unix socket */
        char *socket_group;   /* group owning the API socket */
        mode_t socket_mode;
        char *libvirt_uri;
        char *virt_type;      /* auto, kvm or qemu */
        char *network;        /* libvirt network for workspace NICs (or bridge) */
        char *bridge;         /* host bridge for workspace NICs (or network) */
        char *agent_binary;   /* host path of the static in-guest agent */
        char *log_level;
        uint64_t max_image_size;
        unsigned default_vcpus, max_vcpus;
        uint64_t default_memory, max_memory; /* bytes */
        uint64_t default_disk, max_disk;     /* bytes */
        unsigned agent_hello_timeout;        /* seconds */
        unsigned stop_timeout;               /* seconds */
        unsigned default_idle_timeout;       /* seconds; 0: no idle auto-stop unless a template says */
        unsigned lifetime_warning;           /* seconds before a lifetime's end of its warning event; 0 none */
        unsigned idle_cpu_percent;           /* load1 below this % of the vCPUs counts as idle */
        unsigned idle_gpu_percent;           /* GPU utilisation below this % counts as idle */
        unsigned workers;
        uint64_t api_max_body;               /* bytes */
        unsigned api_connection_timeout;     /* seconds */
        unsigned api_max_connections;        /* each listener */
        unsigned api_max_connections_per_ip; /* HTTPS */
        unsigned api_header_timeout;         /* seconds to complete headers (TLS handshake included) */
        unsigned api_request_timeout;        /* seconds to complete a request (body included) */
        uint64_t api_max_header_size;        /* bytes: request line and headers */
        unsigned api_auth_failures_per_minute; /* HTTPS, per address; then 429 */
        char *listen;                        /* HTTPS "address:port"; NULL: unix socket only */
        char *tls_cert;                      /* PEM certificate and chain */
        char *tls_key;                       /* PEM private key, mode 0600 */
        char *tls_min_version;               /* "1.2" or "1.3" */
        unsigned api_max_event_streams;      /* open GET /v1/events at once */
        char *gpu_sysfs_root;                /* where PCI devices and IOMMU groups are read */
        char *gpu_pci_ids;                   /* pci.ids for GPU model names */
        char *gpu_kernel_cmdline;            /* checked for an ACS override */
        uint64_t hugepages_min_memory;       /* guests with at least this memory use hugepages; 0 never */
        char *gpu_rom_bar;                   /* "on" (default) or "off": hide the cards' option ROM BAR */
        char *templates_dir;                 /* *.json templates pushed at start */
        /* OIDC bearer tokens (docs/oidc.md); off unless oidc_issuer is set. */
        char *oidc_issuer, *oidc_audience;
        char *oidc_jwks_file, *oidc_jwks_url, *oidc_ca_file;
        unsigned oidc_clock_skew, oidc_jwks_refresh_min, oidc_jwks_max_age; /* seconds */
        char *oidc_user_claim, *oidc_groups_claim;
        char *oidc_role_map, *oidc_email_domains;
        unsigned token_max_lifetime;         /* seconds an API token may live at most */
        char *bootstrap_token_file;          /* the first start's admin token; default <state_dir>/bootstrap-token */
        char *audit_file;                    /* the audit log's JSONL file (docs/audit.md) */
        unsigned audit_retention_days;       /* audit records kept in the database; 0 forever */
        double vcpu_overcommit;              /* vCPUs workspaces may hold per host CPU */
        double memory_overcommit;            /* memory workspaces may hold per byte left after reserved_memory */
        uint64_t reserved_memory;            /* bytes of host memory kept for the host itself */
} hostd_config;

/* Fill *cfg with the built-in defaults (always succeeds). */
void hostd_config_defaults(hostd_config *cfg);

/* Read path over the defaults already in *cfg. On error, err->message is
 * "path:line: what is wrong" (HD_E_INVALID) or the I/O error. */
int hostd_config_load(hostd_config *cfg, const char *path, hd_error *err);

/* Checks that span keys (network xor bridge, defaults within maxima), and
 * for HTTPS the listen address and that the certificate and key files work. */
int hostd_config_check(const hostd_config *cfg, hd_error *err);

/* The oidc_* keys as the API server takes them (pointers into cfg). */
void hostd_config_oidc(const hostd_config *cfg, api_oidc_config *out);

/* The effective configuration as `key = value` lines (what `hostd -n` prints). */
char *hostd_config_dump(const hostd_config *cfg);

void hostd_config_free(hostd_config *cfg);

/* config.h — hostd's configuration: defaults, the key = value file, checks.
 *
 * The file is /etc/hostd/hostd.conf unless -f names another. Each line is
 * `key = value`, blank, or a `#` comment. Unknown keys, repeated keys and bad
 * values are errors reported as "file:line: message". */
#pragma once

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
        unsigned api_max_connections;
        char *gpu_sysfs_root;                /* where PCI devices and IOMMU groups are read */
        char *gpu_pci_ids;                   /* pci.ids for GPU model names */
        char *gpu_kernel_cmdline;            /* checked for an ACS override */
        uint64_t hugepages_min_memory;       /* guests with at least this memory use hugepages; 0 never */
        char *gpu_rom_bar;                   /* "on" (default) or "off": hide the cards' option ROM BAR */
        char *templates_dir;                 /* *.json templates pushed at start */
} hostd_config;

/* Fill *cfg with the built-in defaults (always succeeds). */
void hostd_config_defaults(hostd_config *cfg);

/* Read path over the defaults already in *cfg. On error, err->message is
 * "path:line: what is wrong" (HD_E_INVALID) or the I/O error. */
int hostd_config_load(hostd_config *cfg, const char *path, hd_error *err);

/* Checks that span keys (network xor bridge, defaults within maxima). */
int hostd_config_check(const hostd_config *cfg, hd_error *err);

/* The effective configuration as `key = value` lines (what `hostd -n` prints). */
char *hostd_config_dump(const hostd_config *cfg);

void hostd_config_free(hostd_config *cfg);

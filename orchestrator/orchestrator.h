/* orchestrator.h — the public header of orchestrator/ (prefix orch_).
 *
 * This part: the libvirt side of a workspace.  A workspace's domain is
 * described by an orch_domain_spec, rendered to libvirt domain XML with
 * libxml2 (every outside string escaped by the library, never printf-ed),
 * and driven through an opaque orch_virt connection.  The domain carries
 * hostd's own metadata (namespace ORCH_XMLNS) so that the store can be
 * rebuilt from libvirt alone. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- domain XML (domain-xml.c, domain-meta.c) ----------------------------- */

#define ORCH_XMLNS "https://hostd.dev/xmlns/workspace/1"
#define ORCH_AGENT_CHANNEL "org.hostd.agent.0"

#define ORCH_ID_MAX 64         /* ^[a-z0-9][a-z0-9-]{0,63}$ */
#define ORCH_META_MAX 256      /* bytes of a display name, owner, template, image */
#define ORCH_VCPUS_MAX 255     /* q35 without an IOMMU: 255 APIC ids */
#define ORCH_MEMORY_MIB_MIN 64
#define ORCH_MEMORY_MIB_MAX (4u << 20) /* 4 TiB */
#define ORCH_HOSTDEVS_MAX 16   /* PCI functions passed through to one domain */
#define ORCH_HOST_CPU_MAX 4096 /* host CPU numbers are below this */
#define ORCH_NUMA_NODE_MAX 1023

/* One host PCI function passed through with VFIO ("0000:3b:00.0", lower
 * case).  The functions of one card (same domain:bus:slot) become one
 * multifunction device in the guest, so function 0 must be among them. */
typedef struct orch_domain_hostdev {
        const char *address;
        bool rom_bar_off;          /* <rom bar='off'/>: only when configured so */
} orch_domain_hostdev;

/* What a workspace's domain looks like.  Strings are borrowed, not owned. */
typedef struct orch_domain_spec {
        const char *id;            /* hostd's workspace id = the domain name */
        const char *display_name;  /* metadata only; any UTF-8 text */
        const char *owner;         /* metadata only */
        const char *template_name; /* metadata only; may be NULL */
        const char *instance;      /* metadata only: which hostd owns it (its state dir); may be NULL */
        const char *image;         /* metadata only; may be NULL */
        int64_t created;           /* metadata only; Unix seconds, > 0 */
        const char *virt_type;     /* "kvm" or "qemu" (TCG) */
        unsigned vcpus;
        uint64_t memory_mib;
        const char *disk_path;     /* absolute path of the qcow2 overlay */
        const char *network;       /* a libvirt network name, or NULL ... */
        const char *bridge;        /* ... a host bridge name: exactly one of both */
        const char *mac;           /* optional "52:54:00:xx:xx:xx"; libvirt picks one if NULL */
        const char *agent_socket_path; /* absolute; the host end of ORCH_AGENT_CHANNEL */
        const char *console_log_path;  /* absolute; the serial console is appended to it */
        const char *emulator;      /* optional absolute path of the QEMU binary */
        /* GPU passthrough: every function of every assigned card.  Needs
         * virt_type "kvm" (VFIO does not work under TCG). */
        const orch_domain_hostdev *hostdevs;
        size_t n_hostdevs;         /* 0 .. ORCH_HOSTDEVS_MAX */
        /* NUMA placement (zero: none): memory strictly on numa_node, every
         * vCPU and the emulator threads allowed on pin_cpus (that node's
         * host CPUs, from orch_numa_cpus); both are required together. */
        bool numa_pin;
        int numa_node;             /* 0 .. ORCH_NUMA_NODE_MAX when numa_pin */
        const unsigned *pin_cpus;
        size_t n_pin_cpus;
        bool hugepages;            /* back guest memory with the host's default huge pages */
} orch_domain_spec;

/* Check a spec (HD_E_INVALID with a message naming the field) and render it.
 * Returns the XML document (caller frees) or NULL. */
char *orch_domain_xml(const orch_domain_spec *spec, hd_error *err);

/* 0 when id is a valid workspace id / domain name, else HD_E_INVALID. */
int orch_domain_id_check(const char *id, hd_error *err);

/* hostd's metadata read back from a domain. */
typedef struct orch_domain_meta {
        char *id;
        char *display_name;
        char *owner;
        char *template_name; /* NULL when the spec had none */
        char *instance;      /* the owning hostd's state dir; NULL when the spec had none */
        char *image;         /* NULL when the spec had none */
        int64_t created;     /* Unix seconds */
} orch_domain_meta;

/* Parse hostd's metadata from a domain's XML (virDomainGetMetadata is no
 * use: it strips the namespace, so any <workspace> would pass).  HD_E_NOT_FOUND
 * when the XML carries no hostd metadata, HD_E_INVALID when it is malformed.
 * *out is filled only on success; free it with orch_domain_meta_clear(). */
int orch_domain_meta_parse(const char *xml, orch_domain_meta *out, hd_error *err);
void orch_domain_meta_clear(orch_domain_meta *m);

/* ---- virt type (virt-type.c) ----------------------------------------------- */

/* Decide the domain type: setting is "kvm", "qemu" or "auto" (NULL means the
 * environment's HOSTD_VIRT_TYPE, else "auto").  auto gives "kvm" when
 * kvm_dev (NULL: /dev/kvm) opens read-write and answers KVM's API version
 * AND caps_xml (libvirt's capabilities; NULL: not checked) offers domain
 * type kvm for hvm x86_64; else "qemu".  A forced "kvm" that caps_xml does not offer
 * is an error.  Returns a static string or NULL (HD_E_INVALID). */
const char *orch_virt_type_detect(const char *setting, const char *caps_xml,
                                  const char *kvm_dev, hd_error *err);

/* ---- libvirt (virt.c, the one file that includes libvirt) ------------------ */

typedef struct orch_virt orch_virt;

/* Our own view of virDomainState. */
typedef enum orch_dom_state {
        ORCH_DOM_UNKNOWN = 0,
        ORCH_DOM_RUNNING,       /* running or blocked on a resource */
        ORCH_DOM_PAUSED,
        ORCH_DOM_SHUTTING_DOWN, /* the guest is shutting down */
        ORCH_DOM_SHUTOFF,
        ORCH_DOM_CRASHED,
        ORCH_DOM_SUSPENDED,     /* guest power-management suspend */
} orch_dom_state;

/* Stable name: "running", "paused", "shutting_down", "shutoff", … */
const char *orch_dom_state_name(orch_dom_state s);

typedef struct orch_domain_info {
        orch_domain_meta meta;
        orch_dom_state state;
} orch_domain_info;

void orch_domain_info_free(orch_domain_info *list, size_t n);

/* Open a connection (uri NULL: qemu:///system).  Every call below is safe
 * from several threads on one orch_virt; a connection lost (libvirtd
 * restarted) is reopened by the next call.  libvirt's own error printing is
 * silenced: its messages come back in hd_error (HD_E_LIBVIRT, HD_E_NOT_FOUND
 * for an unknown domain or network, HD_E_CONFLICT for a wrong state). */
orch_virt *orch_virt_open(const char *uri, hd_error *err);
void orch_virt_close(orch_virt *v);

/* orch_virt_type_detect() fed with this connection's capabilities. */
const char *orch_virt_type(orch_virt *v, const char *setting, hd_error *err);

/* Render spec and define it (persistent, schema-validated by libvirt).
 * Refuses (HD_E_CONFLICT) a name already defined and (HD_E_NOT_FOUND) a
 * libvirt network that does not exist, leaving nothing defined. */
int orch_virt_define(orch_virt *v, const orch_domain_spec *spec, hd_error *err);
/* 0 when libvirt knows the network; HD_E_NOT_FOUND (with a hint) when not. */
int orch_virt_network_check(orch_virt *v, const char *network, hd_error *err);
int orch_virt_start(orch_virt *v, const char *name, hd_error *err);
/* ACPI power button, repeated every 10 s, until the domain is off or
 * timeout_s passed; then destroy.  *forced (optional) tells which.  A domain
 * already off is fine. */
int orch_virt_shutdown(orch_virt *v, const char *name, unsigned timeout_s, bool *forced,
                       hd_error *err);
/* Power off at once; a domain already off is fine. */
int orch_virt_destroy(orch_virt *v, const char *name, hd_error *err);
/* Remove the definition, with its managed save, snapshot/checkpoint metadata
 * and NVRAM.  A running domain is refused (HD_E_CONFLICT): destroy it first. */
int orch_virt_undefine(orch_virt *v, const char *name, hd_error *err);
int orch_virt_state(orch_virt *v, const char *name, orch_dom_state *out, hd_error *err);
/* A domain's metadata and state.  HD_E_NOT_FOUND when there is no such
 * domain, HD_E_CONFLICT when it exists but hostd does not manage it. */
int orch_virt_lookup(orch_virt *v, const char *name, orch_domain_info *out, hd_error *err);
/* Every domain (active or not) that carries hostd metadata; others are
 * skipped.  Free with orch_domain_info_free(*out, *n). */
int orch_virt_list(orch_virt *v, orch_domain_info **out, size_t *n, hd_error *err);

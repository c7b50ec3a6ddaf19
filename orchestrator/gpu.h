/* gpu.h — the host's GPUs as hostd sees them: inventory read from sysfs,
 * eligibility for VFIO passthrough (with the reason when not eligible),
 * model filters and the CPUs of a NUMA node.
 *
 * Everything is read below a configurable sysfs root ("/sys" in production,
 * a fixture tree in tests), so no GPU is needed to exercise it.  Shared by
 * the inventory, allocation and domain XML parts (issue 5's contract). */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

#define ORCH_PCI_ADDR_MAX 16           /* "0000:3b:00.0" */
typedef struct orch_gpu {
        char address[ORCH_PCI_ADDR_MAX];   /* the GPU function (.0) */
        unsigned vendor, device;           /* 0x10de, 0x2330 */
        unsigned class_code;               /* 0x030200 */
        char *model;                       /* "GH100 [H100 SXM5 80GB]" from pci.ids, else "10de:2330" */
        int numa_node;                     /* -1 unknown */
        int iommu_group;                   /* -1 when the IOMMU is off */
        char **functions; size_t n_functions; /* all functions of the card, GPU first (".0", ".1" audio…) */
        char *driver;                      /* "nvidia", "vfio-pci", NULL when unbound */
        char *reset_method;                /* "flr bus", NULL when unknown */
        bool usable;
        char *unusable_reason;             /* NULL when usable */
} orch_gpu;
typedef struct orch_gpu_list { orch_gpu *items; size_t count; char *host_problem; } orch_gpu_list;
/* host_problem: set when passthrough is refused for the whole host (IOMMU off, ACS override). */

/* Read every GPU (PCI class 0x0300xx VGA or 0x0302xx 3D controller) below
 * sysfs_root, sorted by address, with its eligibility.  pci_ids_path (may be
 * NULL or missing: models are then "vvvv:dddd") names the pci.ids database;
 * cmdline_path (NULL: not checked) is the kernel command line (/proc/cmdline).
 * *out is zeroed first and must be freed with orch_gpu_list_free. */
int orch_gpu_inventory(const char *sysfs_root, const char *pci_ids_path, const char *cmdline_path,
                       orch_gpu_list *out, hd_error *err);
void orch_gpu_list_free(orch_gpu_list *l);
/* Host CPUs of a NUMA node ("0-15,32-47" parsed) for vCPU pinning. */
int orch_numa_cpus(const char *sysfs_root, int node, unsigned **cpus, size_t *n, hd_error *err);
/* Does a model filter match ("H100" substring case-insensitive of the model name, or "10de:2330")?
 * A name filter is matched against the marketing name in the model's last
 * brackets when it has one ("H100 SXM5 80GB" in "GH100 [H100 SXM5 80GB]"), so
 * that "H100" does not match the H800's chip name "GH100".  NULL or "" matches any. */
bool orch_gpu_model_matches(const orch_gpu *g, const char *filter);

/* ---- extras (gpu-inventory.c, gpu-pciids.c) ------------------------------- */

/* The inventory as text, for operators and fixture files: the host problem,
 * then per GPU one line (address, ids, model, NUMA node, group, driver,
 * reset method, usable or the reason) and one line of its functions. */
char *orch_gpu_list_render(const orch_gpu_list *l);

/* Human name of a PCI class code (0x020000 -> "Ethernet controller"),
 * from a built-in table of the classes found next to GPUs; never NULL. */
const char *orch_pci_class_name(unsigned class_code);

/* Has this PCI class code a GPU (VGA 0x0300xx, 3D controller 0x0302xx)? */
bool orch_pci_class_is_gpu(unsigned class_code);

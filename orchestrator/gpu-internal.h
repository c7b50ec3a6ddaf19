/* gpu-internal.h — what the GPU files of orchestrator/ share among
 * themselves: sysfs attribute readers, the pci.ids lookup and the
 * eligibility pass.  Not for other modules (they use gpu.h). */
#pragma once

#include "orchestrator/gpu.h"

/* A sysfs attribute of dir (e.g. "class"), trailing whitespace removed;
 * NULL when it cannot be read. */
char *orch_sysfs_attr(const char *dir, const char *name);

/* A hex attribute ("0x10de\n") of dir into *out; -1 when missing or malformed. */
int orch_sysfs_hex(const char *dir, const char *name, unsigned *out);

/* Is s a PCI address "dddd:bb:dd.f" (lower-case hex, as sysfs writes it)? */
bool orch_pci_address_valid(const char *s);

/* Do two PCI addresses name functions of the same card (domain:bus:device)? */
bool orch_pci_same_slot(const char *a, const char *b);

/* The device name of vendor:device in pci.ids text (NULL when absent);
 * caller frees.  Non-printable bytes become '?'. */
char *orch_pciids_lookup(const char *db, unsigned vendor, unsigned device);

/* Decide each GPU's usable/unusable_reason and the list's host_problem
 * (IOMMU off, ACS override on cmdline_path); the inventory is filled. */
int orch_gpu_eligibility(const char *sysfs_root, const char *cmdline_path, orch_gpu_list *l,
                         hd_error *err);

/* Small string vectors: append a copy of s, sort, free. */
void orch_strv_push(char ***v, size_t *n, const char *s);
void orch_strv_sort(char **v, size_t n);
void orch_strv_free(char **v, size_t n);

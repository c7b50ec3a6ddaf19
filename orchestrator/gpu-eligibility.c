/* gpu-eligibility.c — may a GPU be passed through with VFIO, and if not, why.
 *
 * The whole host is refused when the IOMMU is off (no IOMMU groups) or when
 * the kernel command line enables the ACS override (the groups it reports
 * then do not match what the hardware isolates).  Otherwise a GPU is usable
 * only if every other member of its IOMMU group is a function of the same
 * card or a PCI bridge: anything else (a NIC, an NVMe drive) would be handed
 * to the guest with it, or block the assignment. */
#include "orchestrator/gpu-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

HD_DEFINE_CLEANUP(DIR *, closedir)

#define CMDLINE_MAX 65536
#define PCI_CLASS_BRIDGE_PCI 0x0604

static const char iommu_off_msg[] =
        "the IOMMU is off: add intel_iommu=on (or amd_iommu=on) iommu=pt to the kernel command line";

/* 1 when <root>/kernel/iommu_groups has at least one group, 0 when it is
 * missing or empty, -1 on another error. */
static int iommu_on(const char *sysfs_root, hd_error *err)
{
        _cleanup_free_ char *path = hd_path_join(sysfs_root, "kernel/iommu_groups");
        _cleanup_(closedirp) DIR *d = opendir(path);
        struct dirent *de;

        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return hd_error_errno(err, HD_E_IO, errno, "cannot list %s", path);
        }
        while ((de = readdir(d)))
                if (isdigit((unsigned char)de->d_name[0]))
                        return 1;
        return 0;
}

/* The host problem the kernel command line causes (NULL: none). */
static int cmdline_problem(const char *cmdline_path, char **problem, hd_error *err)
{
        _cleanup_free_ char *cmdline = NULL;

        *problem = NULL;
        if (!cmdline_path)
                return 0;
        if (hd_read_file(cmdline_path, CMDLINE_MAX, &cmdline, NULL, err) < 0)
                return hd_error_prefix(err, "cannot read the kernel command line");
        for (char *save = NULL, *tok = strtok_r(cmdline, " \t\n", &save); tok;
             tok = strtok_r(NULL, " \t\n", &save)) {
                if (strncmp(tok, "pcie_acs_override", strlen("pcie_acs_override")) != 0)
                        continue;
                for (char *c = tok; *c; c++)
                        if (!isprint((unsigned char)*c))
                                *c = '?';
                *problem = hd_asprintf(
                        "GPU passthrough is refused: the kernel command line enables the ACS "
                        "override (%.80s), so IOMMU groups no longer show which devices the "
                        "hardware really isolates and a guest could reach other devices; remove "
                        "it from the kernel command line and reboot",
                        tok);
                return 0;
        }
        return 0;
}

/* The reason g is not usable because of its group's members (NULL: none). */
static int group_problem(const char *sysfs_root, const orch_gpu *g, char **reason,
                         hd_error *err)
{
        _cleanup_free_ char *path = NULL, *devdir = hd_path_join(sysfs_root, "bus/pci/devices");
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_buf_ hd_buf sharers = HD_BUF_INIT;
        struct dirent *de;
        char **members = NULL;
        size_t n = 0;

        *reason = NULL;
        if (g->iommu_group < 0) {
                *reason = hd_strdup("the device is in no IOMMU group, so VFIO cannot take it");
                return 0;
        }
        path = hd_asprintf("%s/kernel/iommu_groups/%d/devices", sysfs_root, g->iommu_group);
        d = opendir(path);
        if (!d)
                return hd_error_errno(err, HD_E_IO, errno, "cannot list IOMMU group %d (%s)",
                                      g->iommu_group, path);
        /* readdir order is arbitrary: sort the sharers for stable messages */
        while ((de = readdir(d)))
                if (orch_pci_address_valid(de->d_name) &&
                    !orch_pci_same_slot(de->d_name, g->address))
                        orch_strv_push(&members, &n, de->d_name);
        orch_strv_sort(members, n);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *dir = hd_path_join(devdir, members[i]);
                unsigned class_code;
                bool known = orch_sysfs_hex(dir, "class", &class_code) == 0;

                if (!known || (class_code >> 8) != PCI_CLASS_BRIDGE_PCI)
                        hd_buf_appendf(&sharers, "%s%s %s", sharers.len ? ", " : "", members[i],
                                       known ? orch_pci_class_name(class_code) : "unknown device");
        }
        orch_strv_free(members, n);
        if (sharers.len)
                *reason = hd_asprintf("shares IOMMU group %d with %s", g->iommu_group,
                                      sharers.data);
        return 0;
}

int orch_gpu_eligibility(const char *sysfs_root, const char *cmdline_path, orch_gpu_list *l,
                         hd_error *err)
{
        int on = iommu_on(sysfs_root, err);

        if (on < 0)
                return -1;
        if (!on)
                l->host_problem = hd_strdup(iommu_off_msg);
        else if (cmdline_problem(cmdline_path, &l->host_problem, err) < 0)
                return -1;

        for (size_t i = 0; i < l->count; i++) {
                orch_gpu *g = &l->items[i];

                if (l->host_problem)
                        g->unusable_reason = hd_strdup(l->host_problem);
                else if (group_problem(sysfs_root, g, &g->unusable_reason, err) < 0)
                        return -1;
                g->usable = g->unusable_reason == NULL;
        }
        return 0;
}

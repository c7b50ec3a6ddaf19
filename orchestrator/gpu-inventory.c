/* gpu-inventory.c — the host's GPUs read from sysfs.
 *
 * Walks every entry of <root>/bus/pci/devices, keeps the functions whose class is a GPU
 * (0x0300xx VGA, 0x0302xx 3D controller), and for each reads its ids,
 * model name (pci.ids), NUMA node, IOMMU group (the basename of the
 * iommu_group symlink), bound driver (the basename of the driver symlink),
 * reset_method, and the other functions of the same card.  Eligibility is
 * decided in gpu-eligibility.c.  Also: model filters, NUMA node CPU lists
 * and the text rendering operators (and fixture files) read. */
#include "orchestrator/gpu-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

HD_DEFINE_CLEANUP(DIR *, closedir)

#define PCI_IDS_MAX (16u << 20)
#define CPUS_MAX 65536u

char *orch_sysfs_attr(const char *dir, const char *name)
{
        _cleanup_free_ char *path = hd_path_join(dir, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[512];
        ssize_t n;

        if (fd < 0)
                return NULL;
        do
                n = read(fd, buf, sizeof(buf) - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return NULL;
        while (n > 0 && isspace((unsigned char)buf[n - 1]))
                n--;
        buf[n] = '\0';
        return hd_strdup(buf);
}

int orch_sysfs_hex(const char *dir, const char *name, unsigned *out)
{
        _cleanup_free_ char *s = orch_sysfs_attr(dir, name);
        unsigned long v;
        char *end;

        if (!s || strncmp(s, "0x", 2) != 0 || !isxdigit((unsigned char)s[2]))
                return -1;
        errno = 0;
        v = strtoul(s + 2, &end, 16);
        if (errno || *end || v > 0xffffff)
                return -1;
        *out = (unsigned)v;
        return 0;
}

bool orch_pci_address_valid(const char *s)
{
        static const char shape[] = "hhhh:hh:hh.h";

        for (size_t i = 0; i < sizeof(shape) - 1; i++) {
                bool hex = isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f');
                if (shape[i] == 'h' ? !hex : s[i] != shape[i])
                        return false;
        }
        return s[sizeof(shape) - 1] == '\0' && s[sizeof(shape) - 2] <= '7';
}

bool orch_pci_same_slot(const char *a, const char *b)
{
        return strncmp(a, b, strlen("dddd:bb:dd")) == 0;
}

/* Basename of the symlink dir/name (NULL when there is none). */
static char *link_base(const char *dir, const char *name)
{
        _cleanup_free_ char *path = hd_path_join(dir, name);
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        const char *base;

        if (n <= 0)
                return NULL;
        target[n] = '\0';
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        return *base ? hd_strdup(base) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void orch_strv_push(char ***v, size_t *n, const char *s)
{
        /* grow at powers of two */
        if ((*n & (*n - 1)) == 0) {
                char **nv = realloc(*v, (*n ? *n * 2 : 1) * sizeof(char *));
                if (!nv)
                        abort();
                *v = nv;
        }
        (*v)[(*n)++] = hd_strdup(s);
}

void orch_strv_sort(char **v, size_t n)
{
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_str);
}

void orch_strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* The PCI addresses in <root>/bus/pci/devices, sorted. */
static int list_devices(const char *devdir, char ***out, size_t *n_out, hd_error *err)
{
        _cleanup_(closedirp) DIR *d = opendir(devdir);
        char **v = NULL;
        size_t n = 0;
        struct dirent *de;

        if (!d)
                return hd_error_errno(err, HD_E_IO, errno,
                                      "cannot list PCI devices in %s (is sysfs mounted?)", devdir);
        while ((de = readdir(d))) {
                if (orch_pci_address_valid(de->d_name))
                        orch_strv_push(&v, &n, de->d_name);
        }
        orch_strv_sort(v, n);
        *out = v;
        *n_out = n;
        return 0;
}

/* Fill g (address set) from its sysfs directory; names: every device, sorted. */
static int read_gpu(orch_gpu *g, const char *devdir, const char *db, char **names, size_t n_names,
                    hd_error *err)
{
        _cleanup_free_ char *dir = hd_path_join(devdir, g->address);
        _cleanup_free_ char *numa = NULL, *group = NULL;
        char *end;
        long v;

        if (orch_sysfs_hex(dir, "vendor", &g->vendor) < 0 ||
            orch_sysfs_hex(dir, "device", &g->device) < 0)
                return hd_error_set(err, HD_E_IO, "cannot read the vendor and device ids of %s",
                                    dir);
        g->model = db ? orch_pciids_lookup(db, g->vendor, g->device) : NULL;
        if (!g->model)
                g->model = hd_asprintf("%04x:%04x", g->vendor, g->device);

        g->numa_node = -1;
        numa = orch_sysfs_attr(dir, "numa_node");
        if (numa && *numa) {
                v = strtol(numa, &end, 10);
                if (!*end && v >= 0 && v < 4096)
                        g->numa_node = (int)v;
        }
        g->iommu_group = -1;
        group = link_base(dir, "iommu_group");
        if (group && *group && strspn(group, "0123456789") == strlen(group) && strlen(group) < 9)
                g->iommu_group = atoi(group);
        g->driver = link_base(dir, "driver");
        g->reset_method = orch_sysfs_attr(dir, "reset_method");
        if (g->reset_method && !*g->reset_method) {
                free(g->reset_method);
                g->reset_method = NULL;
        }

        /* the card's functions: the GPU first, then the others in order */
        g->functions = hd_malloc0((n_names + 1) * sizeof(char *));
        g->functions[g->n_functions++] = hd_strdup(g->address);
        for (size_t i = 0; i < n_names; i++)
                if (orch_pci_same_slot(names[i], g->address) && strcmp(names[i], g->address))
                        g->functions[g->n_functions++] = hd_strdup(names[i]);
        return 0;
}

int orch_gpu_inventory(const char *sysfs_root, const char *pci_ids_path, const char *cmdline_path,
                       orch_gpu_list *out, hd_error *err)
{
        _cleanup_free_ char *devdir = hd_path_join(sysfs_root, "bus/pci/devices");
        _cleanup_free_ char *db = NULL;
        char **names = NULL;
        size_t n_names = 0;
        orch_gpu_list l = {0};
        int r = 0;

        memset(out, 0, sizeof(*out));
        if (list_devices(devdir, &names, &n_names, err) < 0)
                return -1;
        if (pci_ids_path && hd_read_file(pci_ids_path, PCI_IDS_MAX, &db, NULL, NULL) < 0)
                db = NULL; /* no database: models are shown as vendor:device */

        l.items = hd_malloc0((n_names + 1) * sizeof(orch_gpu));
        for (size_t i = 0; i < n_names && r == 0; i++) {
                _cleanup_free_ char *dir = hd_path_join(devdir, names[i]);
                unsigned class_code;

                if (orch_sysfs_hex(dir, "class", &class_code) < 0 ||
                    !orch_pci_class_is_gpu(class_code))
                        continue;
                orch_gpu *g = &l.items[l.count++];
                g->class_code = class_code;
                snprintf(g->address, sizeof(g->address), "%s", names[i]);
                r = read_gpu(g, devdir, db, names, n_names, err);
        }
        orch_strv_free(names, n_names);
        if (r == 0)
                r = orch_gpu_eligibility(sysfs_root, cmdline_path, &l, err);
        if (r < 0) {
                orch_gpu_list_free(&l);
                return -1;
        }
        *out = l;
        return 0;
}

void orch_gpu_list_free(orch_gpu_list *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->count; i++) {
                orch_gpu *g = &l->items[i];
                free(g->model);
                orch_strv_free(g->functions, g->n_functions);
                free(g->driver);
                free(g->reset_method);
                free(g->unusable_reason);
        }
        free(l->items);
        free(l->host_problem);
        memset(l, 0, sizeof(*l));
}

/* "0-15,32-47": ranges and single CPUs, separated by commas. */
int orch_numa_cpus(const char *sysfs_root, int node, unsigned **cpus, size_t *n, hd_error *err)
{
        _cleanup_free_ char *dir = NULL, *list = NULL;
        _cleanup_free_ unsigned *v = NULL;
        size_t count = 0;
        const char *p;

        *cpus = NULL;
        *n = 0;
        if (node < 0)
                return hd_error_set(err, HD_E_INVALID, "NUMA node %d does not exist", node);
        dir = hd_asprintf("%s/devices/system/node/node%d", sysfs_root, node);
        list = orch_sysfs_attr(dir, "cpulist");
        if (!list)
                return hd_error_set(err, HD_E_NOT_FOUND,
                                    "cannot read the CPUs of NUMA node %d (%s/cpulist)", node, dir);
        v = hd_malloc0(CPUS_MAX * sizeof(*v));
        for (p = list; *p;) {
                unsigned long lo, hi;
                char *end;

                if (!isdigit((unsigned char)*p))
                        goto bad;
                lo = hi = strtoul(p, &end, 10);
                if (*end == '-') {
                        if (!isdigit((unsigned char)end[1]))
                                goto bad;
                        hi = strtoul(end + 1, &end, 10);
                }
                if (hi < lo || hi >= CPUS_MAX || count + (hi - lo + 1) > CPUS_MAX)
                        goto bad;
                for (unsigned long c = lo; c <= hi; c++)
                        v[count++] = (unsigned)c;
                if (*end == ',' && end[1])
                        end++;
                else if (*end)
                        goto bad;
                p = end;
        }
        *cpus = count ? realloc(steal_ptr(v), count * sizeof(unsigned)) : NULL;
        *n = count;
        return 0;
bad:
        return hd_error_set(err, HD_E_IO, "malformed CPU list \"%.64s\" for NUMA node %d", list,
                            node);
}

/* "10de:2330" (exactly 4 + 4 hex digits) into ids. */
static bool parse_vendor_device(const char *s, unsigned *vendor, unsigned *device)
{
        char *end;

        if (strlen(s) != 9 || s[4] != ':' || strspn(s, "0123456789abcdefABCDEF:") != 9)
                return false;
        *vendor = (unsigned)strtoul(s, &end, 16);
        *device = (unsigned)strtoul(s + 5, &end, 16);
        return end == s + 9;
}

bool orch_gpu_model_matches(const orch_gpu *g, const char *filter)
{
        const char *open, *name = g->model ? g->model : "";
        _cleanup_free_ char *marketing = NULL;
        unsigned vendor, device;

        if (!filter || !*filter)
                return true;
        if (parse_vendor_device(filter, &vendor, &device))
                return vendor == g->vendor && device == g->device;
        open = strrchr(name, '[');
        if (open && strchr(open, ']'))
                name = marketing = strndup(open + 1, (size_t)(strchr(open, ']') - open - 1));
        if (!name)
                abort();
        return strcasestr(name, filter) != NULL;
}

char *orch_gpu_list_render(const orch_gpu_list *l)
{
        hd_buf b = HD_BUF_INIT;

        hd_buf_appendf(&b, "host problem: %s\n", l->host_problem ? l->host_problem : "none");
        for (size_t i = 0; i < l->count; i++) {
                const orch_gpu *g = &l->items[i];

                hd_buf_appendf(&b, "%s %04x:%04x class=0x%06x \"%s\" numa=%d group=%d driver=%s "
                               "reset=\"%s\" %s%s\n",
                               g->address, g->vendor, g->device, g->class_code, g->model,
                               g->numa_node, g->iommu_group, g->driver ? g->driver : "none",
                               g->reset_method ? g->reset_method : "unknown",
                               g->usable ? "usable" : "unusable: ",
                               g->usable || !g->unusable_reason ? "" : g->unusable_reason);
                hd_buf_append(&b, "    functions:");
                for (size_t f = 0; f < g->n_functions; f++)
                        hd_buf_appendf(&b, " %s", g->functions[f]);
                hd_buf_append(&b, "\n");
        }
        return hd_buf_steal(&b);
}

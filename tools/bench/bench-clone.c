/* bench-clone.c — how long img_disk_create takes, for a 1 GiB and a 200 GiB
 * golden image: the claim is that a copy-on-write clone costs the same
 * whatever the golden's size. Prints figures; it passes or fails nothing.
 *
 *   build/bench-clone [N]     N clones per image (default 20)
 *
 * Goldens are sparse qcow2 files with a few MiB written by qemu-io, so their
 * import (which hashes the whole file) stays cheap while their virtual size is
 * the real one. Everything lives in a temporary directory under /tmp. */
#include "common/common.h"
#include "images/images.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define GIB (UINT64_C(1) << 30)

typedef struct golden {
        const char *name;
        const char *size;   /* for qemu-img create */
        const char *write1; /* two qemu-io writes, so the image holds real data */
        const char *write2;
} golden;

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static int make_golden(const char *dir, const golden *g, char **path_out, hd_error *err)
{
        char *path = hd_asprintf("%s/%s.qcow2", dir, g->name);
        const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, g->size, NULL};
        const char *fill[] = {"qemu-io", "-f", "qcow2", "-c", g->write1, "-c", g->write2, path, NULL};

        *path_out = path;
        return hd_run(create, NULL, err) < 0 || hd_run(fill, NULL, err) < 0 ? -1 : 0;
}

/* One row: import the golden, then time n clones of it. */
static int bench_one(img_store *store, const char *dir, const golden *g, int n, hd_error *err)
{
        _cleanup_free_ char *src = NULL;
        _cleanup_free_ double *ms = hd_malloc0(sizeof(double) * (size_t)n);
        img_info info = {0};
        struct stat st, ov;
        double t0, import_ms;
        char *path = NULL;

        if (make_golden(dir, g, &src, err) < 0 || stat(src, &st) < 0)
                return -1;
        img_import_req req = {g->name, src, "qcow2", NULL};
        t0 = now_ms();
        if (img_import(store, &req, &info, err) < 0)
                return -1;
        import_ms = now_ms() - t0;

        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *id = hd_asprintf("%s-clone-%02d", g->name, i);

                free(path);
                t0 = now_ms();
                if (img_disk_create(store, g->name, id, info.virtual_size, &path, err) < 0) {
                        img_info_clear(&info);
                        return -1;
                }
                ms[i] = now_ms() - t0;
        }
        if (stat(path, &ov) < 0)
                ov.st_size = ov.st_blocks = 0;
        free(path);
        qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
        printf("%-6s %8.0f GiB %7.1f MiB %7.1f MiB %9.0f | %7.1f %7.1f %7.1f | %8.1f KiB %8.1f KiB\n",
               g->name, (double)info.virtual_size / GIB, (double)info.file_size / (1 << 20),
               (double)st.st_blocks * 512 / (1 << 20), import_ms, ms[0], ms[n / 2], ms[n - 1],
               (double)ov.st_size / 1024, (double)ov.st_blocks * 512 / 1024);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *id = hd_asprintf("%s-clone-%02d", g->name, i);
                img_disk_delete(store, id, NULL);
        }
        img_delete(store, g->name, NULL);
        img_info_clear(&info);
        return 0;
}

int main(int argc, char **argv)
{
        static const golden goldens[] = {
                {"g1", "1G", "write -P 0xa5 0 4M", "write -P 0x5a 512M 4M"},
                {"g200", "200G", "write -P 0xa5 0 4M", "write -P 0x5a 199G 4M"},
        };
        img_limits limits = {256 * GIB, IMG_FMT_QCOW2};
        char dir[] = "/tmp/hostd-bench-clone-XXXXXX";
        _cleanup_free_ char *root = NULL;
        int n = argc > 1 ? atoi(argv[1]) : 20;
        hd_error err = {0};
        img_store *store;
        int rc = 0;

        if (n < 1 || n > 1000 || !mkdtemp(dir)) {
                fprintf(stderr, "usage: %s [N clones, 1-1000]\n", argv[0]);
                return 2;
        }
        root = hd_path_join(dir, "store");
        store = img_store_open(root, &limits, &err);
        if (!store) {
                fprintf(stderr, "bench-clone: %s\n", err.message);
                return 1;
        }
        printf("img_disk_create: %d clones per golden image, each sized to the golden's virtual "
               "size (qemu-img create -f qcow2 -F qcow2 -b ...)\n\n", n);
        printf("%-6s %12s %11s %11s %9s | %7s %7s %7s | %12s %12s\n", "", "", "golden",
               "golden", "import", "clone", "clone", "clone", "overlay", "overlay");
        printf("%-6s %12s %11s %11s %9s | %7s %7s %7s | %12s %12s\n", "image", "virtual size",
               "file size", "allocated", "ms", "min ms", "median", "max ms", "file size",
               "allocated");
        for (size_t i = 0; i < HD_ARRAY_SIZE(goldens) && rc == 0; i++)
                if (bench_one(store, dir, &goldens[i], n, &err) < 0) {
                        fprintf(stderr, "bench-clone: %s: %s\n", goldens[i].name, err.message);
                        rc = 1;
                }
        img_store_close(store);
        const char *rm[] = {"rm", "-rf", dir, NULL};
        hd_run(rm, NULL, NULL);
        return rc;
}

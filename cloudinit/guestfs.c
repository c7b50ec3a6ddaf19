/* guestfs.c — the one file of hostd that uses libguestfs: open a guest disk in
 * one appliance launch, find and mount its single Linux root file system,
 * then apply an injection plan (read-write) or read files back (read-only).
 *
 * libguestfs messages are captured by an error handler (never printed) and
 * become HD_E_GUESTFS errors that say which step failed. */
#include "cloudinit/internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <guestfs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_FILE_MAX (2u << 20) /* above this, guestfs_download (protocol limit ~4 MiB) */

typedef struct gfs {
        guestfs_h *g;
        const char *disk;
        char last[HD_ERRMSG_MAX]; /* the last error message libguestfs reported */
        char console[2048];       /* the tail of the appliance's (qemu's) output */
        size_t console_len;
} gfs;

static void gfs_closep(gfs *s)
{
        if (s->g)
                guestfs_close(s->g);
        s->g = NULL;
}
#define _cleanup_gfs_ _cleanup_(gfs_closep)

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}
static void strv_freep(char ***v)
{
        strv_free(*v);
}
#define _cleanup_strv_ _cleanup_(strv_freep)

static void on_error(guestfs_h *g, void *opaque, const char *msg)
{
        gfs *s = opaque;

        snprintf(s->last, sizeof(s->last), "%s", msg);
}

/* Keeps the tail of the appliance's output, where qemu says why a launch
 * failed. Warnings are dropped (they would otherwise go to stderr, and
 * library code does not print). */
static void on_event(guestfs_h *g, void *opaque, uint64_t event, int handle, int flags,
                     const char *buf, size_t buf_len, const uint64_t *array, size_t array_len)
{
        gfs *s = opaque;
        size_t room = sizeof(s->console) - 1;

        if (event != GUESTFS_EVENT_APPLIANCE)
                return;
        if (buf_len > room) {
                buf += buf_len - room;
                buf_len = room;
        }
        if (s->console_len + buf_len > room) {
                size_t drop = s->console_len + buf_len - room;
                memmove(s->console, s->console + drop, s->console_len - drop);
                s->console_len -= drop;
        }
        memcpy(s->console + s->console_len, buf, buf_len);
        s->console_len += buf_len;
        s->console[s->console_len] = '\0';
}

/* The first line of text (or its last non-empty line), control characters
 * blanked, into out. */
static const char *one_line(const char *text, bool last, char *out, size_t size)
{
        const char *start = text, *end;
        size_t n = 0;

        if (last) {
                end = text + strlen(text);
                while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
                        end--;
                start = end;
                while (start > text && start[-1] != '\n')
                        start--;
        } else {
                end = text + strcspn(text, "\n");
        }
        for (const char *c = start; c < end && n + 1 < size; c++)
                out[n++] = (unsigned char)*c < 0x20 || *c == 0x7f ? ' ' : *c;
        out[n] = '\0';
        return out;
}

/* An HD_E_GUESTFS error: "<step> (<disk>): <libguestfs message>". */
__attribute__((format(printf, 3, 4))) static int gfs_fail(gfs *s, hd_error *err,
                                                          const char *fmt, ...)
{
        char step[256], line[HD_ERRMSG_MAX];
        const char *msg = s->g ? guestfs_last_error(s->g) : NULL;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(step, sizeof(step), fmt, ap);
        va_end(ap);
        if (!msg)
                msg = s->last[0] ? s->last : "unknown libguestfs error";
        return hd_error_set(err, HD_E_GUESTFS, "%s (%s): %s", step, s->disk,
                            one_line(msg, false, line, sizeof(line)));
}

/* A failed launch: libguestfs's own message is generic; qemu's last line is not. */
static int gfs_fail_launch(gfs *s, hd_error *err)
{
        char line[HD_ERRMSG_MAX];

        if (!one_line(s->console, true, line, sizeof(line))[0])
                return gfs_fail(s, err, "launching the libguestfs appliance");
        return hd_error_set(err, HD_E_GUESTFS,
                            "launching the libguestfs appliance (%s) failed: %s (LIBGUESTFS_DEBUG=1 "
                            "shows the appliance's whole log)", s->disk, line);
}

static size_t strv_len(char **v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

/* Mount pairs sort by the mount point's length: "/" before "/var" before "/var/lib". */
static int by_mountpoint_len(const void *a, const void *b)
{
        size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

        return la < lb ? -1 : la > lb;
}

/* Mount every file system of root, parents before children. */
static int mount_root(gfs *s, const char *root, bool readonly, hd_error *err)
{
        _cleanup_strv_ char **mps = guestfs_inspect_get_mountpoints(s->g, root);
        size_t n;

        if (!mps)
                return gfs_fail(s, err, "listing the mount points of %s", root);
        n = strv_len(mps) / 2;
        qsort(mps, n, 2 * sizeof(char *), by_mountpoint_len); /* [mp, dev] pairs */
        for (size_t i = 0; i < n; i++) {
                const char *mp = mps[2 * i], *dev = mps[2 * i + 1];
                int r = readonly ? guestfs_mount_ro(s->g, dev, mp) : guestfs_mount(s->g, dev, mp);
                if (r < 0)
                        return gfs_fail(s, err, "mounting %s on %s", dev, mp);
        }
        return 0;
}

/* Create the handle, launch the appliance with the disk, and mount the
 * guest's one Linux root file system. */
static int gfs_open(gfs *s, const char *disk, const char *format, bool readonly,
                    bool force_tcg, hd_error *err)
{
        _cleanup_strv_ char **roots = NULL;
        _cleanup_free_ char *type = NULL;
        size_t n;

        s->disk = disk;
        s->g = guestfs_create_flags(GUESTFS_CREATE_NO_ENVIRONMENT);
        if (!s->g)
                return hd_error_errno(err, HD_E_GUESTFS, errno,
                                      "cannot create a libguestfs handle");
        guestfs_set_error_handler(s->g, on_error, s);
        if (guestfs_parse_environment(s->g) < 0)
                return gfs_fail(s, err, "reading the LIBGUESTFS_* environment");
        /* Under LIBGUESTFS_DEBUG=1 libguestfs prints the appliance's log itself. */
        if (guestfs_set_event_callback(s->g, on_event,
                                       guestfs_get_verbose(s->g) ? GUESTFS_EVENT_WARNING
                                                                 : GUESTFS_EVENT_APPLIANCE |
                                                                           GUESTFS_EVENT_WARNING,
                                       0, s) < 0)
                return gfs_fail(s, err, "setting up libguestfs");
        /* LIBGUESTFS_BACKEND is the environment's choice; else no libvirtd needed. */
        if (!getenv("LIBGUESTFS_BACKEND") && !getenv("LIBGUESTFS_ATTACH_METHOD") &&
            guestfs_set_backend(s->g, "direct") < 0)
                return gfs_fail(s, err, "selecting the direct backend");
        if (force_tcg && guestfs_set_backend_setting(s->g, "force_tcg", "1") < 0)
                return gfs_fail(s, err, "setting force_tcg");
        if (guestfs_add_drive_opts(s->g, disk, GUESTFS_ADD_DRIVE_OPTS_FORMAT, format,
                                   GUESTFS_ADD_DRIVE_OPTS_READONLY, readonly ? 1 : 0, -1) < 0)
                return gfs_fail(s, err, "adding the disk");
        if (guestfs_launch(s->g) < 0)
                return gfs_fail_launch(s, err);

        roots = guestfs_inspect_os(s->g);
        if (!roots)
                return gfs_fail(s, err, "inspecting the guest image");
        n = strv_len(roots);
        if (n == 0)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "no Linux root filesystem found in the guest image %s", disk);
        if (n > 1)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "the guest image %s holds %zu operating systems (%s, %s, ...); "
                                    "hostd needs exactly one", disk, n, roots[0], roots[1]);
        type = guestfs_inspect_get_type(s->g, roots[0]);
        if (!type)
                return gfs_fail(s, err, "inspecting %s", roots[0]);
        if (strcmp(type, "linux") != 0)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "no Linux root filesystem found in the guest image %s (%s "
                                    "holds a \"%.32s\" system)", disk, roots[0], type);
        return mount_root(s, roots[0], readonly, err);
}

/* Unmount and stop the appliance; for a writable disk this flushes every write. */
static int gfs_finish(gfs *s, hd_error *err)
{
        if (guestfs_umount_all(s->g) < 0)
                return gfs_fail(s, err, "unmounting the guest file systems");
        if (guestfs_shutdown(s->g) < 0)
                return gfs_fail(s, err, "shutting the appliance down (writes may be lost)");
        guestfs_close(s->g);
        s->g = NULL;
        return 0;
}

static int check_disk(const char *disk, const char *format, hd_error *err)
{
        struct stat st;

        if (!disk || disk[0] != '/')
                return hd_error_set(err, HD_E_INVALID, "disk path must be absolute");
        if (!format || (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0))
                return hd_error_set(err, HD_E_INVALID, "disk format must be \"qcow2\" or \"raw\"");
        if (stat(disk, &st) < 0)
                return hd_error_errno(err, errno == ENOENT ? HD_E_NOT_FOUND : HD_E_IO, errno,
                                      "disk %s", disk);
        return 0;
}

/* ---- writing ------------------------------------------------------------------- */

/* mkdir -p: missing components are created 0755 (root:root). */
static int make_dirs(gfs *s, const char *path, hd_error *err)
{
        _cleanup_free_ char *p = hd_strdup(path);

        for (char *c = p + 1;; c++) {
                bool end = *c == '\0';
                if (!end && *c != '/')
                        continue;
                *c = '\0';
                int r = guestfs_is_dir_opts(s->g, p, GUESTFS_IS_DIR_OPTS_FOLLOWSYMLINKS, 1, -1);
                if (r < 0)
                        return gfs_fail(s, err, "checking %s", p);
                if (r == 0 && guestfs_mkdir_mode(s->g, p, 0755) < 0)
                        return gfs_fail(s, err, "creating directory %s", p);
                if (end)
                        return 0;
                *c = '/';
        }
}

static int set_owner_mode(gfs *s, const char *path, unsigned mode, hd_error *err)
{
        if (guestfs_chown(s->g, 0, 0, path) < 0 || guestfs_chmod(s->g, (int)mode, path) < 0)
                return gfs_fail(s, err, "setting owner and mode %04o of %s", mode, path);
        return 0;
}

static int apply_entry(gfs *s, const ci_entry *e, hd_error *err)
{
        switch (e->kind) {
        case CI_ENTRY_DIR:
                if (make_dirs(s, e->path, err) < 0)
                        return -1;
                break;
        case CI_ENTRY_FILE:
        case CI_ENTRY_UPLOAD:
                /* Replace, never write through, whatever the image had there. */
                if (guestfs_rm_f(s->g, e->path) < 0)
                        return gfs_fail(s, err, "removing the old %s", e->path);
                if (e->kind == CI_ENTRY_FILE && guestfs_write(s->g, e->path, e->data, e->len) < 0)
                        return gfs_fail(s, err, "writing %s", e->path);
                if (e->kind == CI_ENTRY_UPLOAD && guestfs_upload(s->g, e->host_path, e->path) < 0)
                        return gfs_fail(s, err, "copying %s to %s", e->host_path, e->path);
                break;
        case CI_ENTRY_SYMLINK:
                if (guestfs_ln_sf(s->g, e->target, e->path) < 0)
                        return gfs_fail(s, err, "linking %s to %s", e->path, e->target);
                return 0;
        }
        return set_owner_mode(s, e->path, e->mode, err);
}

int ci_gfs_apply(const char *disk_path, const char *disk_format, const ci_plan *plan,
                 bool force_tcg, hd_error *err)
{
        _cleanup_gfs_ gfs s = {0};

        if (check_disk(disk_path, disk_format, err) < 0 ||
            gfs_open(&s, disk_path, disk_format, false, force_tcg, err) < 0)
                return -1;
        if (guestfs_umask(s.g, 022) < 0)
                return gfs_fail(&s, err, "setting the umask");
        for (size_t i = 0; i < plan->n; i++)
                if (apply_entry(&s, &plan->entries[i], err) < 0)
                        return -1;
        return gfs_finish(&s, err);
}

/* ---- reading ------------------------------------------------------------------- */

static int read_regular(gfs *s, const char *path, size_t size, ci_guest_file *f, hd_error *err)
{
        char tmp[] = "/tmp/hostd-guest-read-XXXXXX";
        _cleanup_close_ int fd = -1;
        size_t len = 0;
        char *data;
        int r;

        if (size > CI_GUEST_READ_MAX)
                return hd_error_set(err, HD_E_TOO_LARGE, "%s in %s is %zu bytes; the limit is %u",
                                    path, s->disk, size, CI_GUEST_READ_MAX);
        if (size <= READ_FILE_MAX) {
                data = guestfs_read_file(s->g, path, &len);
                if (!data)
                        return gfs_fail(s, err, "reading %s", path);
                f->data = realloc(data, len + 1);
                if (!f->data)
                        abort();
                f->data[len] = '\0';
                f->len = len;
                return 0;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot create %s", tmp);
        r = guestfs_download(s->g, path, tmp);
        if (r < 0)
                gfs_fail(s, err, "reading %s", path);
        else
                r = hd_read_file(tmp, CI_GUEST_READ_MAX, &f->data, &f->len, err);
        unlink(tmp);
        return r;
}

static int read_one(gfs *s, const char *path, ci_guest_file *f, hd_error *err)
{
        struct guestfs_statns *st = guestfs_lstatns(s->g, path);
        int r = 0;

        if (!st) {
                int e = guestfs_last_errno(s->g);
                if (e == ENOENT || e == ENOTDIR)
                        return 0; /* exists stays false */
                return gfs_fail(s, err, "looking up %s", path);
        }
        f->exists = true;
        f->mode = (unsigned)st->st_mode;
        f->uid = (unsigned)st->st_uid;
        f->gid = (unsigned)st->st_gid;
        if (S_ISLNK(f->mode)) {
                f->link_target = guestfs_readlink(s->g, path);
                if (!f->link_target)
                        r = gfs_fail(s, err, "reading the link %s", path);
        } else if (S_ISREG(f->mode)) {
                r = read_regular(s, path, (size_t)st->st_size, f, err);
        }
        guestfs_free_statns(st);
        return r;
}

int ci_guest_read(const char *disk_path, const char *disk_format, const char *const paths[],
                  ci_guest_file *files_out, bool force_tcg, hd_error *err)
{
        _cleanup_gfs_ gfs s = {0};
        size_t n = 0;

        while (paths[n])
                n++;
        memset(files_out, 0, n * sizeof(*files_out));
        for (size_t i = 0; i < n; i++)
                if (paths[i][0] != '/')
                        return hd_error_set(err, HD_E_INVALID, "guest path %zu is not absolute",
                                            i + 1);
        if (check_disk(disk_path, disk_format, err) < 0 ||
            gfs_open(&s, disk_path, disk_format, true, force_tcg, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (read_one(&s, paths[i], &files_out[i], err) < 0) {
                        ci_guest_files_free(files_out, n);
                        return -1;
                }
        if (gfs_finish(&s, err) < 0) {
                ci_guest_files_free(files_out, n);
                return -1;
        }
        return 0;
}

void ci_guest_files_free(ci_guest_file *files, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(files[i].data);
                free(files[i].link_target);
                memset(&files[i], 0, sizeof(files[i]));
        }
}

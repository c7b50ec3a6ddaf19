/* disk.c — workspace disks: qcow2 overlays in disks/ backed by a golden image.
 *
 * A disk is made by `qemu-img create -f qcow2 -F <fmt> -b <golden> <tmp> <size>`
 * (the backing format always stated, so nothing ever probes the golden's
 * content), then renamed into place; its cost does not depend on the
 * golden's size. Which golden a disk uses is read from the disk's own qcow2
 * header, never from anything recorded beside it. */
#include "images/images-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DISK_SUFFIX ".qcow2"

static char *disk_file(const char *disk_id)
{
        return hd_asprintf("%s" DISK_SUFFIX, disk_id);
}

/* The disk id of a file name in disks/, or NULL when it is not a disk's. */
static char *disk_id_of(const char *file)
{
        size_t len = strlen(file), slen = strlen(DISK_SUFFIX);
        _cleanup_free_ char *id = NULL;

        if (len <= slen || strcmp(file + len - slen, DISK_SUFFIX) != 0)
                return NULL;
        id = hd_asprintf("%.*s", (int)(len - slen), file);
        return img_check_name("disk id", id, NULL) == 0 ? steal_ptr(id) : NULL;
}

/* 0 when disks/<disk_id>.qcow2 is a regular file, else HD_E_NOT_FOUND. */
static int disk_exists(img_store *store, const char *disk_id, hd_error *err)
{
        _cleanup_free_ char *file = disk_file(disk_id);
        struct stat st;

        if (fstatat(store->disks_fd, file, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return hd_error_set(err, HD_E_NOT_FOUND, "there is no disk %s", disk_id);
        return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whether a backing file name (absolute, or relative to disks/) is one of the
 * image's files: by path, or by inode for any other spelling of it. */
static bool backs(img_store *store, const char *backing, const char *prefix,
                  const struct stat *golden, size_t n_golden)
{
        struct stat st;

        if (strncmp(backing, prefix, strlen(prefix)) == 0)
                return true;
        if (fstatat(store->disks_fd, backing, &st, 0) < 0)
                return false;
        for (size_t i = 0; i < n_golden; i++)
                if (same_file(&st, &golden[i]))
                        return true;
        return false;
}

int img_disks_backed_by(img_store *store, const char *name, hd_buf *names, hd_error *err)
{
        static const char *const files[] = {"disk.qcow2", "disk.raw"};
        _cleanup_free_ char *prefix = hd_asprintf("%s/%s/", store->images_dir, name);
        _cleanup_(closedirp) DIR *d = NULL;
        struct stat golden[HD_ARRAY_SIZE(files)];
        size_t n_golden = 0;
        struct dirent *de;

        for (size_t i = 0; i < HD_ARRAY_SIZE(files); i++) {
                _cleanup_free_ char *rel = hd_path_join(name, files[i]);
                if (fstatat(store->images_fd, rel, &golden[n_golden], AT_SYMLINK_NOFOLLOW) == 0)
                        n_golden++;
        }
        if (!(d = img_opendir_at(store->disks_fd, store->disks_dir, err)))
                return -1;
        while ((de = readdir(d))) {
                _cleanup_close_ int fd = -1;
                img_qcow2_header h;
                hd_error herr = {0};
                bool used;

                struct stat st;

                /* Only regular files can be disks; links and directories are not followed. */
                if (fstatat(store->disks_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                fd = openat(store->disks_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot open %s/%s",
                                              store->disks_dir, de->d_name);
                if (img_qcow2_read_header(fd, &h, &herr) < 0) {
                        if (herr.code == HD_E_UNUSABLE_IMAGE)
                                continue; /* not a qcow2 file: backed by nothing */
                        return hd_error_set(err, herr.code, "%s/%s: %s", store->disks_dir,
                                            de->d_name, herr.message);
                }
                used = h.backing && backs(store, h.backing, prefix, golden, n_golden);
                img_qcow2_header_clear(&h);
                if (used)
                        hd_buf_appendf(names, "%s%s", names->len ? ", " : "", de->d_name);
        }
        return 0;
}

/* A temporary overlay, removed unless it was renamed into place. */
static void unlink_tmpp(char **path)
{
        if (*path)
                unlink(*path);
        free(*path);
}

static int check_size(const img_store *store, const img_info *image, uint64_t size,
                      hd_error *err)
{
        uint64_t limit = store->limits.max_virtual_size;

        if (size % 512)
                return hd_error_set(err, HD_E_INVALID, "disk size %llu is not a multiple of 512 "
                                    "bytes", (unsigned long long)size);
        if (size < image->virtual_size)
                return hd_error_set(err, HD_E_INVALID,
                                    "disk size %llu bytes (%.1f GiB) is below the virtual size of "
                                    "image %s, %llu bytes (%.1f GiB): ask for at least that",
                                    (unsigned long long)size, IMG_GIB(size), image->name,
                                    (unsigned long long)image->virtual_size,
                                    IMG_GIB(image->virtual_size));
        if (size > limit)
                return hd_error_set(err, HD_E_TOO_LARGE,
                                    "disk size %llu bytes (%.1f GiB) is above this host's limit "
                                    "of %llu bytes (%.1f GiB)",
                                    (unsigned long long)size, IMG_GIB(size),
                                    (unsigned long long)limit, IMG_GIB(limit));
        return 0;
}

int img_disk_create(img_store *store, const char *image_name, const char *disk_id,
                    uint64_t size_bytes, char **path_out, hd_error *err)
{
        _cleanup_(img_info_clear) img_info image = {0};
        _cleanup_(unlink_tmpp) char *tmp = NULL;
        _cleanup_free_ char *file = NULL, *size = NULL, *backing = NULL;
        _cleanup_close_ int lock = -1, fd = -1;

        if (img_name_valid(image_name, err) < 0 || img_check_name("disk id", disk_id, err) < 0)
                return -1;
        /* Shared: disks may be made side by side, but not while an image is deleted. */
        if ((lock = img_store_lock(store, LOCK_SH, err)) < 0 ||
            img_get(store, image_name, &image, err) < 0 ||
            check_size(store, &image, size_bytes, err) < 0)
                return -1;
        if (disk_exists(store, disk_id, NULL) == 0)
                return hd_error_set(err, HD_E_CONFLICT, "disk %s already exists", disk_id);

        tmp = hd_asprintf("%s/" IMG_CREATE_PREFIX "XXXXXX" DISK_SUFFIX, store->disks_dir);
        fd = mkostemps(tmp, strlen(DISK_SUFFIX), O_CLOEXEC);
        if (fd < 0) {
                free(steal_ptr(tmp));
                return hd_error_errno(err, HD_E_IO, errno, "cannot create a file in %s",
                                      store->disks_dir);
        }
        size = hd_asprintf("%llu", (unsigned long long)size_bytes);
        const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", image.format,
                              "-b", image.path, tmp, size, NULL};
        if (hd_run(argv, NULL, err) < 0)
                return hd_error_prefix(err, "cannot create disk %s", disk_id);
        if (img_disk_backing(tmp, &backing, err) < 0)
                return -1;
        if (!backing || strcmp(backing, image.path) != 0)
                return hd_error_set(err, HD_E_INTERNAL, "disk %s was created without its "
                                    "backing file %s", disk_id, image.path);
        if (chmod(tmp, 0600) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot chmod %s", tmp);

        file = disk_file(disk_id);
        if (renameat2(AT_FDCWD, tmp, store->disks_fd, file, RENAME_NOREPLACE) < 0)
                return errno == EEXIST
                               ? hd_error_set(err, HD_E_CONFLICT, "disk %s already exists", disk_id)
                               : hd_error_errno(err, HD_E_IO, errno, "cannot rename %s", tmp);
        free(steal_ptr(tmp));
        fsync(store->disks_fd);
        if (path_out)
                *path_out = hd_path_join(store->disks_dir, file);
        return 0;
}

int img_disk_delete(img_store *store, const char *disk_id, hd_error *err)
{
        _cleanup_free_ char *file = NULL;

        if (img_check_name("disk id", disk_id, err) < 0 || disk_exists(store, disk_id, err) < 0)
                return -1;
        file = disk_file(disk_id);
        if (unlinkat(store->disks_fd, file, 0) < 0)
                return hd_error_errno(err, errno == ENOENT ? HD_E_NOT_FOUND : HD_E_IO, errno,
                                      "cannot delete disk %s", disk_id);
        fsync(store->disks_fd);
        return 0;
}

int img_disk_path(img_store *store, const char *disk_id, char **path_out, hd_error *err)
{
        _cleanup_free_ char *file = NULL;

        if (img_check_name("disk id", disk_id, err) < 0 || disk_exists(store, disk_id, err) < 0)
                return -1;
        file = disk_file(disk_id);
        *path_out = hd_path_join(store->disks_dir, file);
        return 0;
}

static int by_string(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int img_disk_list(img_store *store, char ***ids_out, size_t *n, hd_error *err)
{
        _cleanup_(closedirp) DIR *d = img_opendir_at(store->disks_fd, store->disks_dir, err);
        char **ids = NULL;
        size_t count = 0;
        struct dirent *de;

        if (!d)
                return -1;
        while ((de = readdir(d))) {
                char *id = de->d_name[0] == '.' ? NULL : disk_id_of(de->d_name);

                if (!id)
                        continue;
                if (disk_exists(store, id, NULL) < 0) {
                        free(id);
                        continue;
                }
                ids = realloc(ids, (count + 1) * sizeof(*ids));
                if (!ids)
                        abort();
                ids[count++] = id;
        }
        if (count > 1)
                qsort(ids, count, sizeof(*ids), by_string);
        *ids_out = ids;
        *n = count;
        return 0;
}

void img_disk_list_free(char **ids, size_t n)
{
        for (size_t i = 0; ids && i < n; i++)
                free(ids[i]);
        free(ids);
}

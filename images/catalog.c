/* catalog.c — the images a store holds: get, list, verify and delete. */
#include "images/images-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void img_info_clear(img_info *info)
{
        if (!info)
                return;
        free(info->path);
        memset(info, 0, sizeof(*info));
}

void img_info_list_free(img_info *list, size_t n)
{
        for (size_t i = 0; list && i < n; i++)
                img_info_clear(&list[i]);
        free(list);
}

/* 0 when images/<name> is a directory, else HD_E_NOT_FOUND. */
static int image_dir_exists(img_store *store, const char *name, hd_error *err)
{
        struct stat st;

        if (fstatat(store->images_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                return hd_error_set(err, HD_E_NOT_FOUND, "there is no image named %s", name);
        return 0;
}

int img_get(img_store *store, const char *name, img_info *out, hd_error *err)
{
        _cleanup_free_ char *dir = NULL;
        img_info info = {0};

        if (img_name_valid(name, err) < 0 || image_dir_exists(store, name, err) < 0)
                return -1;
        dir = hd_path_join(store->images_dir, name);
        if (img_meta_read(dir, name, &info, err) < 0) {
                if (err && err->code == HD_E_NOT_FOUND)
                        err->code = HD_E_UNUSABLE_IMAGE;
                return hd_error_prefix(err, "image %s", name);
        }
        info.path = img_disk_file_path(store, name, info.format);
        *out = info;
        return 0;
}

static int by_name(const void *a, const void *b)
{
        return strcmp(((const img_info *)a)->name, ((const img_info *)b)->name);
}

int img_list(img_store *store, img_info **out, size_t *n, hd_error *err)
{
        _cleanup_(closedirp) DIR *d = img_opendir_at(store->images_fd, store->images_dir, err);
        img_info *list = NULL;
        size_t count = 0;
        struct dirent *de;

        if (!d)
                return -1;
        while ((de = readdir(d))) {
                img_info info;

                if (de->d_name[0] == '.' || img_get(store, de->d_name, &info, NULL) < 0)
                        continue;
                list = realloc(list, (count + 1) * sizeof(*list));
                if (!list)
                        abort();
                list[count++] = info;
        }
        if (count > 1)
                qsort(list, count, sizeof(*list), by_name);
        *out = list;
        *n = count;
        return 0;
}

int img_verify(img_store *store, const char *name, hd_error *err)
{
        _cleanup_(img_info_clear) img_info info = {0};
        _cleanup_close_ int fd = -1;
        char sha[IMG_SHA256_HEX + 1];
        uint64_t bytes = 0;

        if (img_get(store, name, &info, err) < 0)
                return -1;
        fd = open(info.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return hd_error_errno(err, errno == ENOENT ? HD_E_UNUSABLE_IMAGE : HD_E_IO, errno,
                                      "image %s: cannot open %s", name, info.path);
        if (img_hash_copy(fd, -1, UINT64_MAX, sha, &bytes, err) < 0)
                return hd_error_prefix(err, "image %s", name);
        if (strcmp(sha, info.sha256) != 0 || bytes != info.file_size)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "image %s has changed since its import: its disk file's "
                                    "SHA-256 is now %s (%llu bytes), meta.json records %s (%llu "
                                    "bytes); delete it and import it again",
                                    name, sha, (unsigned long long)bytes, info.sha256,
                                    (unsigned long long)info.file_size);
        return 0;
}

int img_delete(img_store *store, const char *name, hd_error *err)
{
        _cleanup_close_ int lock = -1;
        _cleanup_buf_ hd_buf users = HD_BUF_INIT;
        _cleanup_free_ char *doomed = NULL;

        if (img_name_valid(name, err) < 0)
                return -1;
        if ((lock = img_store_lock(store, LOCK_EX, err)) < 0 ||
            image_dir_exists(store, name, err) < 0 ||
            img_disks_backed_by(store, name, &users, err) < 0)
                return -1;
        if (users.len > 0)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "image %s is in use by workspace disks: %s; delete those "
                                    "disks first", name, users.data);

        /* Out of sight in one step, then freed; a crash in between leaves a
         * .delete-* directory that the next img_store_open removes. */
        doomed = hd_asprintf(IMG_DELETE_PREFIX "%s", name);
        if (img_remove_dir_at(store->images_fd, doomed, err) < 0)
                return -1;
        if (renameat(store->images_fd, name, store->images_fd, doomed) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot remove image %s", name);
        if (img_remove_dir_at(store->images_fd, doomed, err) < 0)
                return hd_error_prefix(err, "image %s was deleted but its files remain", name);
        fsync(store->images_fd);
        return 0;
}

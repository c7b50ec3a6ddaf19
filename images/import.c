/* import.c — bringing a golden image into the store from a local file.
 *
 * The source is read once, through one descriptor, into a private temporary
 * directory images/.import-XXXXXX/ while its SHA-256 is computed; everything
 * after that (checksum, inspection, meta.json) looks only at the copy, so a
 * source swapped or rewritten meanwhile cannot matter. The directory is then
 * renamed to images/<name>/ in one step, or removed on any error. */
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
#include <time.h>
#include <unistd.h>

/* The temporary directory of one import; removed unless it was renamed. */
typedef struct import_tmp {
        int images_fd;
        char *name; /* ".import-XXXXXX"; NULL once renamed into place */
        int fd;     /* the directory, flocked while the import runs */
} import_tmp;

static void import_tmp_cleanup(import_tmp *t)
{
        if (t->name)
                img_remove_dir_at(t->images_fd, t->name, NULL);
        free(t->name);
        if (t->fd >= 0)
                close(t->fd);
}

/* Made and locked under the store's shared lock, so that img_store_open's
 * sweep (under the exclusive lock) never sees it unlocked. */
static int import_tmp_create(img_store *store, import_tmp *t, hd_error *err)
{
        _cleanup_free_ char *path = hd_asprintf("%s/" IMG_IMPORT_PREFIX "XXXXXX", store->images_dir);
        _cleanup_close_ int lock = img_store_lock(store, LOCK_SH, err);

        if (lock < 0)
                return -1;
        if (!mkdtemp(path))
                return hd_error_errno(err, HD_E_IO, errno, "cannot create a directory in %s",
                                      store->images_dir);
        /* Becomes images/<name>/: searchable so qemu reaches the disk by path. */
        if (chmod(path, 0711) < 0) {
                int e = errno;
                rmdir(path);
                return hd_error_errno(err, HD_E_IO, e, "cannot chmod %s", path);
        }
        t->name = hd_strdup(strrchr(path, '/') + 1);
        t->fd = openat(store->images_fd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (t->fd < 0 || flock(t->fd, LOCK_EX) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot open %s", path);
        return 0;
}

/* Most bytes a file may hold for its image to fit the limit: a raw file is
 * its virtual size; a qcow2 file adds metadata, far below 1/16 of the data
 * with any cluster size of 4 KiB or more, plus its fixed tables. */
static uint64_t file_cap(const char *format, uint64_t max_virtual)
{
        if (strcmp(format, "raw") == 0)
                return max_virtual;
        return max_virtual + max_virtual / 16 + (UINT64_C(64) << 20);
}

static int too_large(uint64_t size, uint64_t limit, hd_error *err)
{
        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                            "the image's virtual size is %llu bytes (%.1f GiB), above this host's "
                            "limit of %llu bytes (%.1f GiB)",
                            (unsigned long long)size, IMG_GIB(size), (unsigned long long)limit,
                            IMG_GIB(limit));
}

static int name_taken(const char *name, hd_error *err)
{
        return hd_error_set(err, HD_E_CONFLICT, "an image named %s already exists: delete it "
                            "first or choose another name", name);
}

static int check_request(img_store *store, const img_import_req *req,
                         char want_sha[IMG_SHA256_HEX + 1], hd_error *err)
{
        unsigned bit;

        if (!req)
                return hd_error_set(err, HD_E_INVALID, "an import needs a request");
        if (img_name_valid(req->name, err) < 0)
                return -1;
        if (!req->source_path || !*req->source_path)
                return hd_error_set(err, HD_E_INVALID, "an import needs a source file");
        if (!req->format || !*req->format)
                return hd_error_set(err, HD_E_INVALID, "the image format is required (qcow2 or "
                                    "raw): it is never guessed from the file's content");
        bit = img_format_bit(req->format);
        if (!bit) {
                _cleanup_free_ char *shown = img_printable(req->format, 20);
                return hd_error_set(err, HD_E_INVALID, "image format \"%s\" is not supported: "
                                    "use qcow2 or raw", shown);
        }
        if (!(store->limits.allowed_formats & bit))
                return hd_error_set(err, HD_E_INVALID, "image format %s is not allowed on this "
                                    "host (allowed: %s)", req->format,
                                    store->limits.allowed_formats & IMG_FMT_QCOW2 ? "qcow2" : "raw");
        want_sha[0] = '\0';
        if (req->expected_sha256 && *req->expected_sha256) {
                size_t i;

                for (i = 0; i < IMG_SHA256_HEX && req->expected_sha256[i]; i++) {
                        char c = req->expected_sha256[i];
                        want_sha[i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
                }
                want_sha[i] = '\0';
                if (req->expected_sha256[i] || !img_sha256_hex_valid(want_sha))
                        return hd_error_set(err, HD_E_INVALID, "the expected SHA-256 must be 64 "
                                            "hexadecimal digits");
        }
        return 0;
}

static int open_source(const char *path, hd_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;

        if (fd < 0)
                return hd_error_errno(err, errno == ENOENT ? HD_E_NOT_FOUND : HD_E_IO, errno,
                                      "cannot open the source file %s", path);
        if (fstat(fd, &st) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot stat %s", path);
        if (!S_ISREG(st.st_mode))
                return hd_error_set(err, HD_E_INVALID, "the source %s is not a regular file", path);
        return steal_fd(&fd);
}

/* Copy the source into dir_fd/disk.<fmt> (mode 0444), hashing it. */
static int copy_source(int src, int dir_fd, const char *format, uint64_t cap, img_info *info,
                       hd_error *err)
{
        _cleanup_free_ char *file = hd_asprintf("disk.%s", format);
        _cleanup_close_ int dst = openat(dir_fd, file,
                                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

        if (dst < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot create the copy");
        if (img_hash_copy(src, dst, cap, info->sha256, &info->file_size, err) < 0)
                return -1;
        if (fchmod(dst, 0444) < 0 || fsync(dst) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot write the copy");
        return 0;
}

int img_import(img_store *store, const img_import_req *req, img_info *out, hd_error *err)
{
        _cleanup_(import_tmp_cleanup) import_tmp tmp = {store->images_fd, NULL, -1};
        _cleanup_(img_info_clear) img_info info = {0};
        _cleanup_free_ char *tmp_path = NULL, *tmp_disk = NULL;
        _cleanup_close_ int src = -1;
        char want_sha[IMG_SHA256_HEX + 1];
        uint64_t cap, limit = store->limits.max_virtual_size;
        struct stat st;

        if (check_request(store, req, want_sha, err) < 0)
                return -1;
        if (fstatat(store->images_fd, req->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return name_taken(req->name, err);
        if ((src = open_source(req->source_path, err)) < 0)
                return -1;
        cap = file_cap(req->format, limit);
        if (fstat(src, &st) == 0 && (uint64_t)st.st_size > cap)
                return strcmp(req->format, "raw") == 0
                               ? too_large((uint64_t)st.st_size, limit, err)
                               : hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                              "the file is %llu bytes, more than any image within "
                                              "this host's limit of %llu bytes can take",
                                              (unsigned long long)st.st_size,
                                              (unsigned long long)limit);

        if (import_tmp_create(store, &tmp, err) < 0 ||
            copy_source(src, tmp.fd, req->format, cap, &info, err) < 0)
                return hd_error_prefix(err, "import of %s", req->name);
        if (want_sha[0] && strcmp(want_sha, info.sha256) != 0)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "checksum mismatch: the file's SHA-256 is %s but %s was "
                                    "expected; the file is damaged or not the one meant",
                                    info.sha256, want_sha);

        tmp_path = hd_path_join(store->images_dir, tmp.name);
        tmp_disk = hd_asprintf("%s/disk.%s", tmp_path, req->format);
        if (img_inspect(tmp_disk, req->format, &info.virtual_size, err) < 0)
                return -1;
        if (info.virtual_size > limit)
                return too_large(info.virtual_size, limit, err);

        snprintf(info.name, sizeof(info.name), "%s", req->name);
        snprintf(info.format, sizeof(info.format), "%s", req->format);
        info.imported_at = (int64_t)time(NULL);
        if (img_meta_write(tmp_path, &info, err) < 0)
                return hd_error_prefix(err, "import of %s", req->name);
        if (fsync(tmp.fd) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot sync %s", tmp_path);

        if (renameat2(store->images_fd, tmp.name, store->images_fd, req->name,
                      RENAME_NOREPLACE) < 0)
                return errno == EEXIST ? name_taken(req->name, err)
                                       : hd_error_errno(err, HD_E_IO, errno, "cannot rename %s to %s",
                                                tmp.name, req->name);
        free(steal_ptr(tmp.name));
        fsync(store->images_fd);

        info.path = img_disk_file_path(store, info.name, info.format);
        if (out) {
                *out = info;
                info.path = NULL;
        }
        return 0;
}

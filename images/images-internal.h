/* images-internal.h — what the files of images/ share: the store's layout,
 * its lock, and the helpers each file offers the others. Not for other modules. */
#pragma once

#include "images/images.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <dirent.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

struct img_store {
        char *root;       /* absolute, symlinks resolved */
        char *images_dir; /* <root>/images */
        char *disks_dir;  /* <root>/disks */
        char *lock_path;  /* <root>/.lock */
        int images_fd;
        int disks_fd;
        img_limits limits;
};

#define IMG_IMPORT_PREFIX ".import-"
#define IMG_DELETE_PREFIX ".delete-"
#define IMG_CREATE_PREFIX ".create-"
#define IMG_META_FILE "meta.json"
#define IMG_GIB(x) ((double)(x) / (1024.0 * 1024.0 * 1024.0))

/* IMG_FMT_* bit of a format name, 0 when it is not one hostd knows. */
static inline unsigned img_format_bit(const char *format)
{
        if (!format)
                return 0;
        if (strcmp(format, "qcow2") == 0)
                return IMG_FMT_QCOW2;
        if (strcmp(format, "raw") == 0)
                return IMG_FMT_RAW;
        return 0;
}

HD_DEFINE_CLEANUP(DIR *, closedir)

/* store.c */
/* Same rule as img_name_valid; `what` names the thing in the message. */
int img_check_name(const char *what, const char *name, hd_error *err);
/* Take the store's lock (flock on <root>/.lock, LOCK_SH or LOCK_EX) on a new
 * open file, so it excludes other threads too; returns the fd to close. */
int img_store_lock(img_store *store, int how, hd_error *err);
/* Remove a directory holding only files (a store's entry), tolerating
 * entries already gone. */
int img_remove_dir_at(int parent_fd, const char *name, hd_error *err);
/* A directory stream over dir_fd's directory (its own fd); shown names it
 * in the message. Caller closedir()s. */
DIR *img_opendir_at(int dir_fd, const char *shown, hd_error *err);
/* Path of an image's disk file: <images_dir>/<name>/disk.<format>. */
char *img_disk_file_path(const img_store *store, const char *name, const char *format);

/* disk.c: append to names ("a, b") the disks in disks/ whose qcow2 header
 * names a file of images/<name>/ as backing file. Call with the lock held. */
int img_disks_backed_by(img_store *store, const char *name, hd_buf *names, hd_error *err);

/* qcow2.c: the fixed part of a qcow2 header and its backing file name. */
typedef struct img_qcow2_header {
        uint32_t version;
        uint32_t cluster_bits;
        uint64_t size;
        uint32_t crypt_method;
        uint64_t incompatible_features;
        char *backing; /* NULL when none (owned) */
} img_qcow2_header;

#define IMG_QCOW2_INCOMPAT_DATA_FILE (UINT64_C(1) << 2)

/* HD_E_UNUSABLE_IMAGE when fd does not hold a qcow2 header, HD_E_IO when it
 * cannot be read. */
int img_qcow2_read_header(int fd, img_qcow2_header *h, hd_error *err);
bool img_qcow2_has_magic(int fd);
void img_qcow2_header_clear(img_qcow2_header *h);

/* hash.c: SHA-256 (OpenSSL EVP) of everything read from in_fd, written to
 * out_fd as well unless it is -1 (all-zero blocks become holes there).
 * More than max_bytes read is HD_E_UNUSABLE_IMAGE. */
int img_hash_copy(int in_fd, int out_fd, uint64_t max_bytes, char hex[IMG_SHA256_HEX + 1],
                  uint64_t *bytes_out, hd_error *err);

/* inspect.c: check a file in the store against the format stated, refusing
 * what reaches outside the file or is not of that format; gives its virtual size. */
int img_inspect(const char *path, const char *format, uint64_t *virtual_size, hd_error *err);
/* Copy of untrusted text safe to put in a message: printable ASCII only, cut
 * at max characters (caller frees). */
char *img_printable(const char *s, size_t max);

/* meta.c: meta.json of an image directory. */
bool img_sha256_hex_valid(const char *s); /* 64 lower-case hex digits */
int img_meta_write(const char *dir, const img_info *info, hd_error *err);
/* Read <dir>/meta.json into out (name, format, sha256, sizes, time); it must
 * name `name`. Leaves out->path alone. */
int img_meta_read(const char *dir, const char *name, img_info *out, hd_error *err);

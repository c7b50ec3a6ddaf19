/* images.h — the golden image store and the copy-on-write workspace disks.
 *
 * A store is a directory (root) holding:
 *   images/<name>/disk.<fmt>   a golden image, mode 0444, never written again
 *   images/<name>/meta.json    name, format, sha256, virtual_size, file_size, imported_at
 *   disks/<disk_id>.qcow2      a workspace disk: a qcow2 overlay backed by a golden
 *
 * Images come in only through img_import, which copies a local file into the
 * store, hashes the copy as it is written, inspects the copy with the format
 * the caller stated (never guessed from the content) and refuses images that
 * reach outside themselves (backing files, external data files), that are not
 * what they claim to be, or that are larger than the store's limit.
 *
 * Every function returns 0 (or a pointer) on success and -1 (or NULL) with
 * *err filled on failure. A store may be used from several threads at once;
 * deleting an image and creating a disk from it exclude each other (also
 * across processes that open the same root). */
#pragma once

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

#define IMG_NAME_MAX 63 /* image names and disk ids: [a-z0-9][a-z0-9._-]{0,62} */
#define IMG_SHA256_HEX 64

/* Formats an image may be imported as (bits of img_limits.allowed_formats). */
#define IMG_FMT_QCOW2 (1u << 0)
#define IMG_FMT_RAW (1u << 1)

/* Largest virtual size accepted when img_store_open gets no limits (1 TiB). */
#define IMG_DEFAULT_MAX_VIRTUAL_SIZE (UINT64_C(1) << 40)

typedef struct img_limits {
        uint64_t max_virtual_size; /* bytes; for images imported and disks created */
        unsigned allowed_formats;  /* IMG_FMT_* bits; 0 means both */
} img_limits;

typedef struct img_store img_store;

typedef struct img_info {
        char name[IMG_NAME_MAX + 1];
        char format[8];                  /* "qcow2" or "raw" */
        char sha256[IMG_SHA256_HEX + 1]; /* lower-case hex of the disk file */
        uint64_t virtual_size;           /* bytes the guest sees */
        uint64_t file_size;              /* bytes of the disk file */
        int64_t imported_at;             /* unix seconds */
        char *path;                      /* absolute path of the disk file (owned) */
} img_info;

typedef struct img_import_req {
        const char *name;            /* the image's name in the store */
        const char *source_path;     /* a local regular file, read once */
        const char *format;          /* "qcow2" or "raw": required, never probed */
        const char *expected_sha256; /* optional: 64 hex digits */
} img_import_req;

/* Open (creating when needed) a store under root: images/ and disks/ are
 * created mode 0700 and must belong to this user and not be writable by
 * others. Leftovers of an import or a disk creation that crashed are removed.
 * limits may be NULL (IMG_DEFAULT_MAX_VIRTUAL_SIZE, both formats). */
img_store *img_store_open(const char *root, const img_limits *limits, hd_error *err);
void img_store_close(img_store *store);

/* 0 when name is a valid image name (also the rule for disk ids), else
 * HD_E_INVALID with a message saying what is allowed. */
int img_name_valid(const char *name, hd_error *err);

/* Import a golden image. Errors: HD_E_INVALID (name, format, checksum syntax),
 * HD_E_NOT_FOUND (no source file), HD_E_CONFLICT (name taken),
 * HD_E_UNUSABLE_IMAGE (the content is refused: backing file, external data
 * file, not of the stated format, too large, checksum mismatch), HD_E_IO.
 * On any error nothing is left in the store. out may be NULL. */
int img_import(img_store *store, const img_import_req *req, img_info *out, hd_error *err);

/* All images, sorted by name (caller frees with img_info_list_free). Entries
 * of images/ that are not readable images are left out; img_get says why. */
int img_list(img_store *store, img_info **out, size_t *n, hd_error *err);
/* One image from its meta.json (caller clears *out with img_info_clear). */
int img_get(img_store *store, const char *name, img_info *out, hd_error *err);
/* Recompute the disk file's SHA-256 and compare it with meta.json:
 * HD_E_UNUSABLE_IMAGE when they differ. */
int img_verify(img_store *store, const char *name, hd_error *err);
/* Remove an image: HD_E_CONFLICT (naming the disks) while any disk in disks/
 * is backed by it, as read from each overlay's own qcow2 header. */
int img_delete(img_store *store, const char *name, hd_error *err);

void img_info_clear(img_info *info);
void img_info_list_free(img_info *list, size_t n);

/* Create disks/<disk_id>.qcow2, a qcow2 overlay of image_name with the
 * backing format stated, of size_bytes (a multiple of 512, not below the
 * image's virtual size, not above the store's limit). *path_out (may be
 * NULL) gets its absolute path. HD_E_CONFLICT when the disk exists. */
int img_disk_create(img_store *store, const char *image_name, const char *disk_id,
                    uint64_t size_bytes, char **path_out, hd_error *err);
/* Remove disks/<disk_id>.qcow2 only (its golden image is not touched). */
int img_disk_delete(img_store *store, const char *disk_id, hd_error *err);
/* Absolute path of an existing disk (HD_E_NOT_FOUND when there is none). */
int img_disk_path(img_store *store, const char *disk_id, char **path_out, hd_error *err);
/* Ids of all disks present, sorted (caller frees with img_disk_list_free). */
int img_disk_list(img_store *store, char ***ids_out, size_t *n, hd_error *err);
void img_disk_list_free(char **ids, size_t n);

/* The backing file named in a qcow2 file's header (*backing_out = NULL when it
 * has none). HD_E_UNUSABLE_IMAGE when the file is not a qcow2 image. */
int img_disk_backing(const char *path, char **backing_out, hd_error *err);

/* fsutil.h — small file-system helpers: atomic writes, whole-file reads, mkdir -p. */
#pragma once

#include "common/error.h"

#include <stddef.h>
#include <sys/types.h>

/* Write data to path atomically: a temp file in the same directory, fsync,
 * chmod to mode, rename over path. Nothing is left behind on failure. */
int hd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         hd_error *err);

/* Read a whole file (at most max bytes, else HD_E_TOO_LARGE) into a
 * NUL-terminated buffer; *len_out (optional) gets its length. */
int hd_read_file(const char *path, size_t max, char **data, size_t *len_out, hd_error *err);

/* mkdir -p with mode for each directory created. */
int hd_mkdir_p(const char *path, mode_t mode, hd_error *err);

/* Join a directory and a file name with exactly one '/' (caller frees). */
char *hd_path_join(const char *dir, const char *name);

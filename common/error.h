/* error.h — the one error type of hostd: a code and a human message.
 *
 * Library code returns -1 (or NULL) and fills an hd_error; it never logs.
 * The caller decides what to do: log it, or (in api/) map the code to an
 * HTTP status through the single table in api/.  Pass NULL when the message
 * is not wanted. */
#pragma once

#include <stddef.h>

typedef enum hd_errcode {
        HD_OK = 0,
        HD_E_INVALID,        /* bad input from a user: 400 */
        HD_E_UNAUTHENTICATED, /* no or bad credentials: 401 */
        HD_E_FORBIDDEN,      /* authenticated, but the role does not allow it: 403 */
        HD_E_NOT_FOUND,      /* unknown object: 404 */
        HD_E_CONFLICT,       /* name taken, wrong state, still in use: 409 */
        HD_E_TOO_LARGE,      /* request body or value over a limit: 413 */
        HD_E_UNUSABLE_IMAGE, /* image exists but cannot be used: 422 */
        HD_E_NO_RESOURCES,   /* host out of capacity: 503 */
        HD_E_IO,             /* file system or child program failure: 500 */
        HD_E_LIBVIRT,        /* libvirt call failed: 500 */
        HD_E_GUESTFS,        /* libguestfs call failed: 500 */
        HD_E_STORE,          /* sqlite failure: 500 */
        HD_E_INTERNAL,       /* a bug: 500 */
        HD_E__COUNT
} hd_errcode;

#define HD_ERRMSG_MAX 512

typedef struct hd_error {
        hd_errcode code;
        char message[HD_ERRMSG_MAX];
} hd_error;

/* Fill *err (when not NULL) and return -1, so that callers can write
 * `return hd_error_set(err, HD_E_INVALID, "bad name %s", name);`. */
int hd_error_set(hd_error *err, hd_errcode code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Same, with strerror(errnum) appended as ": <text>". */
int hd_error_errno(hd_error *err, hd_errcode code, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Prefix an existing message with context: "context: old message". */
int hd_error_prefix(hd_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

void hd_error_clear(hd_error *err);

/* Stable machine-readable name of a code, e.g. "invalid", "not_found". */
const char *hd_errcode_name(hd_errcode code);

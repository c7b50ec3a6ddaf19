/* error.c — filling and naming hd_error values. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[HD_E__COUNT] = {
        [HD_OK] = "ok",
        [HD_E_INVALID] = "invalid",
        [HD_E_UNAUTHENTICATED] = "unauthenticated",
        [HD_E_FORBIDDEN] = "forbidden",
        [HD_E_NOT_FOUND] = "not_found",
        [HD_E_CONFLICT] = "conflict",
        [HD_E_TOO_LARGE] = "too_large",
        [HD_E_UNUSABLE_IMAGE] = "unusable_image",
        [HD_E_NO_RESOURCES] = "no_resources",
        [HD_E_IO] = "io_error",
        [HD_E_LIBVIRT] = "libvirt_error",
        [HD_E_GUESTFS] = "guestfs_error",
        [HD_E_STORE] = "store_error",
        [HD_E_INTERNAL] = "internal",
};

const char *hd_errcode_name(hd_errcode code)
{
        if ((unsigned)code >= HD_E__COUNT || !code_names[code])
                return "internal";
        return code_names[code];
}

int hd_error_set(hd_error *err, hd_errcode code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return -1;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -1;
}

int hd_error_errno(hd_error *err, hd_errcode code, int errnum, const char *fmt, ...)
{
        va_list ap;
        size_t len;

        if (!err)
                return -1;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        len = strlen(err->message);
        snprintf(err->message + len, sizeof(err->message) - len, ": %s", strerror(errnum));
        return -1;
}

int hd_error_prefix(hd_error *err, const char *fmt, ...)
{
        char prefix[HD_ERRMSG_MAX], old[HD_ERRMSG_MAX];
        va_list ap;

        if (!err)
                return -1;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->message, sizeof(old));
        /* Truncation is fine: a long message keeps its head. */
        if (snprintf(err->message, sizeof(err->message), "%.200s: %.300s", prefix, old) < 0)
                err->message[0] = '\0';
        return -1;
}

void hd_error_clear(hd_error *err)
{
        if (!err)
                return;
        err->code = HD_OK;
        err->message[0] = '\0';
}

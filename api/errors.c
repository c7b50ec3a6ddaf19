/* errors.c — the one table that maps hostd's error codes to HTTP statuses. */
#include "api/internal.h"

static const unsigned status_of[HD_E__COUNT] = {
        [HD_OK] = 200,
        [HD_E_INVALID] = 400,
        [HD_E_UNAUTHENTICATED] = 401,
        [HD_E_FORBIDDEN] = 403,
        [HD_E_NOT_FOUND] = 404,
        [HD_E_CONFLICT] = 409,
        [HD_E_TOO_LARGE] = 413,
        [HD_E_UNUSABLE_IMAGE] = 422,
        [HD_E_NO_RESOURCES] = 503,
        [HD_E_IO] = 500,
        [HD_E_LIBVIRT] = 500,
        [HD_E_GUESTFS] = 500,
        [HD_E_STORE] = 500,
        [HD_E_INTERNAL] = 500,
};

unsigned api_status_for(hd_errcode code)
{
        if ((unsigned)code >= HD_E__COUNT || status_of[code] == 0)
                return 500;
        return status_of[code];
}

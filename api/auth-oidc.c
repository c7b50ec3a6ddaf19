/* auth-oidc.c — OIDC ID/access tokens (JWT) from the site's identity provider. */
#include "api/internal.h"

int api_auth_oidc(api_request *req, const char *token, hd_error *err)
{
        (void)req;
        (void)token;
        return hd_error_set(err, HD_E_UNAUTHENTICATED, "OIDC is not configured on this host (oidc_issuer)");
}

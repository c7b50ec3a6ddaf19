/* auth-token.c — hostd's own API tokens in the Authorization header. */
#include "api/internal.h"

int api_auth_token(api_request *req, const char *token, hd_error *err)
{
        (void)req;
        (void)token;
        return hd_error_set(err, HD_E_UNAUTHENTICATED, "API tokens are not enabled on this host");
}

/* auth-oidc.c — OIDC ID/access tokens (JWT) from the site's identity
 * provider: verified by the server's provider (oidc-provider.c) against the
 * wall clock, then turned into the request's caller. docs/oidc.md. */
#include "api/internal.h"
#include "api/oidc.h"

#include <stdio.h>
#include <time.h>

/* A user is created at the first login and updated at each one (email,
 * groups, roles, last login) in the users table. The lead connects it here,
 * with the one call of the users store; an error (a disabled user, say)
 * refuses the request with that error. */
static int record_login(api_request *req, const api_oidc_identity *id, hd_error *err)
{
        (void)req;
        (void)id;
        (void)err;
        return 0;
}

int api_auth_oidc(api_request *req, const char *token, hd_error *err)
{
        api_oidc *p = api_server_oidc(req);
        api_caller *c = &req->caller;
        api_oidc_identity id;

        if (!p)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "OIDC is not configured on this host (oidc_issuer)");
        if (api_oidc_authenticate(p, token, time(NULL), &id, err) < 0 || record_login(req, &id, err) < 0)
                return -1;
        snprintf(c->user, sizeof(c->user), "%s", id.user);
        for (size_t i = 0; i < id.n_groups; i++)
                snprintf(c->groups[i], sizeof(c->groups[i]), "%s", id.groups[i]);
        c->n_groups = id.n_groups;
        c->roles = id.roles;
        c->method = "oidc";
        snprintf(c->credential, sizeof(c->credential), "oidc:%s", id.subject);
        c->authenticated = true;
        return 0;
}

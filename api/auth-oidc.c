/* auth-oidc.c — OIDC ID/access tokens (JWT) from the site's identity
 * provider: verified by the server's provider (oidc-provider.c) against the
 * wall clock, then turned into the request's caller. docs/oidc.md. */
#include "api/internal.h"
#include "api/oidc.h"
#include "orchestrator/service.h"
#include "orchestrator/users.h"

#include <stdio.h>
#include <time.h>

/* A user is created at the first sign-in and updated at each one (email,
 * groups, last login) in the users table; a disabled user is refused. */
static int record_login(api_request *req, const api_oidc_identity *id, hd_error *err)
{
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        const char *groups[API_MAX_GROUPS];

        for (size_t i = 0; i < id->n_groups; i++)
                groups[i] = id->groups[i];
        /* The record is made without roles: the mapped ones come from the
         * token each time, so a group taken away at the IdP takes them too. */
        u = orch_store_user_upsert_login(api_store(req), id->user, id->email[0] ? id->email : NULL,
                                         groups, id->n_groups, NULL, 0, err);
        if (!u)
                return -1;
        if (u->disabled_at)
                return hd_error_set(err, HD_E_FORBIDDEN, "user '%s' is disabled: sign-in refused until a user-admin enables it",
                                    u->name);
        api_caller_from_user(&req->caller, u);
        /* The IdP's groups grant their mapped roles at every sign-in, beside
         * those a user-admin gave the record. */
        req->caller.roles |= id->roles;
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
        c->method = "oidc";
        snprintf(c->credential, sizeof(c->credential), "oidc:%s", id.subject);
        c->authenticated = true;
        return 0;
}

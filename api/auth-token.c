/* auth-token.c — hostd's own API tokens in the Authorization header, and the
 * user record behind a caller: a token's roles and groups are its user's at
 * this request (never more than the user has now), and a unix-socket caller
 * with a record of the same name gets the record's. */
#include "api/internal.h"
#include "orchestrator/service.h"
#include "orchestrator/users.h"

#include <stdio.h>
#include <string.h>

static unsigned roles_of_user(const orch_user *u)
{
        unsigned roles = 0;

        /* Unknown names (a role this hostd does not know) grant nothing. */
        for (size_t i = 0; i < u->n_roles; i++)
                roles |= api_role_parse(u->roles[i]);
        return roles;
}

void api_caller_from_user(api_caller *c, const orch_user *u)
{
        snprintf(c->user, sizeof(c->user), "%s", u->name);
        c->roles = roles_of_user(u);
        c->n_groups = 0;
        for (size_t i = 0; i < u->n_groups && c->n_groups < API_MAX_GROUPS; i++)
                snprintf(c->groups[c->n_groups++], API_NAME_MAX, "%s", u->groups[i]);
}

static int refuse_disabled(const orch_user *u, const char *how, hd_error *err)
{
        return hd_error_set(err, HD_E_FORBIDDEN, "user '%s' is disabled: %s until a user-admin enables it", u->name,
                            how);
}

int api_auth_token(api_request *req, const char *token, hd_error *err)
{
        _cleanup_(orch_api_token_freep) orch_api_token *t = NULL;
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        api_caller *c = &req->caller;
        hd_error e = {0};

        t = orch_api_token_check(api_store(req), token, 0, err);
        if (!t)
                return -1;
        u = orch_store_user_get(api_store(req), t->owner, &e);
        if (!u)
                return e.code == HD_E_NOT_FOUND
                               ? hd_error_set(err, HD_E_UNAUTHENTICATED, "the user of token '%s' no longer exists",
                                              t->name)
                               : hd_error_set(err, e.code, "%s", e.message);
        if (u->disabled_at)
                return refuse_disabled(u, "its tokens do not work", err);
        api_caller_from_user(c, u);
        c->method = "token";
        snprintf(c->credential, sizeof(c->credential), "token %s (%.64s)", t->id, t->name);
        c->scope_read_only = t->read_only;
        snprintf(c->scope_workspace, sizeof(c->scope_workspace), "%s", t->workspace ? t->workspace : "");
        c->authenticated = true;
        return 0;
}

int api_apply_user_record(api_request *req, bool is_root, hd_error *err)
{
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        hd_error e = {0};

        /* root is the host's operator: always an admin, whatever a record says. */
        if (is_root)
                return 0;
        u = orch_store_user_get(api_store(req), req->caller.user, &e);
        if (!u)
                return e.code == HD_E_NOT_FOUND ? 0 : hd_error_set(err, e.code, "%s", e.message);
        if (u->disabled_at)
                return refuse_disabled(u, "hostd refuses its requests", err);
        api_caller_from_user(&req->caller, u);
        return 0;
}

/* tokens.c — the /v1/tokens handlers: make an API token (the token itself is
 * in this one answer and nowhere else), list tokens, revoke one. Anybody
 * signed in manages their own; a user-admin or admin makes and revokes
 * other users' (never an admin's, unless an admin), an auditor reads them.
 * Others' tokens that the caller may not read are 404, as for no token. */
#include "api/internal.h"
#include "orchestrator/service.h"
#include "orchestrator/users.h"

#include <string.h>
#include <time.h>

#define USER_READERS (API_ROLE_ADMIN | API_ROLE_USER_ADMIN | API_ROLE_AUDITOR)
#define USER_WRITERS (API_ROLE_ADMIN | API_ROLE_USER_ADMIN)

static json_t *token_json(const orch_api_token *t, int64_t now)
{
        const char *state = t->revoked_at ? "revoked" : t->expires_at <= now ? "expired" : "live";

        return json_pack("{s:s,s:s,s:s,s:s?,s:s,s:o,s:o,s:o,s:o,s:{s:b,s:s?}}", "id", t->id, "name", t->name, "user",
                         t->owner, "created_by", t->created_by, "state", state, "created_at",
                         api_json_time(t->created_at), "expires_at", api_json_time(t->expires_at), "last_used_at",
                         api_json_time(t->last_used_at), "revoked_at", api_json_time(t->revoked_at), "scopes",
                         "read_only", t->read_only, "workspace", t->workspace);
}

/* The record of the user a new token is for; the caller's own is made from
 * the caller when it has none yet (a unix-socket user's first token). */
static orch_user *token_owner(api_request *req, const char *name, bool self, hd_error *err)
{
        const api_caller *c = &req->caller;
        const char *roles[8], *groups[API_MAX_GROUPS];
        size_t n_roles = 0;
        hd_error e = {0};
        orch_user *u = orch_store_user_get(api_store(req), name, &e);

        if (u || e.code != HD_E_NOT_FOUND || !self || c->on_behalf_of[0]) {
                if (!u)
                        hd_error_set(err, e.code, "%s%s", e.message,
                                     e.code == HD_E_NOT_FOUND ? ": create the user first (POST /v1/users)" : "");
                return u;
        }
        for (unsigned bit = 1; bit <= API_ROLE_MEMBER && n_roles < HD_ARRAY_SIZE(roles); bit <<= 1)
                if (c->roles & bit)
                        roles[n_roles++] = api_role_name(bit);
        for (size_t i = 0; i < c->n_groups; i++)
                groups[i] = c->groups[i];
        orch_user nu = {.name = (char *)name, .groups = (char **)groups, .n_groups = c->n_groups,
                        .roles = (char **)roles, .n_roles = n_roles, .created_by = (char *)c->user};
        if (orch_store_user_create(api_store(req), &nu, err) < 0)
                return NULL;
        return orch_store_user_get(api_store(req), name, err);
}

/* A workspace scope names a workspace the caller sees; the token keeps its id. */
static int resolve_scope(api_request *req, const char *ref, char id[ORCH_WS_ID_LEN + 1], hd_error *err)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = orch_store_workspace_find(api_store(req), ref, NULL);

        if (!ws || ws->state == ORCH_WS_DELETED || !api_caller_sees(req, ws->owner, ws->id, ws->name, false))
                return hd_error_set(err, HD_E_NOT_FOUND, "no workspace '%.64s' to scope the token to", ref);
        snprintf(id, ORCH_WS_ID_LEN + 1, "%s", ws->id);
        return 0;
}

static int check_lifetime(api_request *req, json_int_t seconds, hd_error *err)
{
        unsigned max = api_token_max_lifetime(req);

        if (seconds > (json_int_t)max)
                return hd_error_set(err, HD_E_INVALID,
                                    "expires_in %lld s is longer than this host allows: token_max_lifetime is %u s "
                                    "(%u days)",
                                    (long long)seconds, max, max / 86400);
        return 0;
}

void api_create_token(api_request *req)
{
        static const api_field fields[] = {
                {"name", F_STRING, true, 1, ORCH_TOKEN_NAME_MAX},
                {"expires_in", F_INT, true, 1, 100ll * 366 * 24 * 3600},
                {"read_only", F_BOOL, false, 0, 0},
                {"workspace", F_STRING, false, 1, 64},
                {"user", F_STRING, false, 1, ORCH_USER_NAME_MAX},
        };
        _cleanup_json_ json_t *body = NULL;
        _cleanup_(orch_user_freep) orch_user *owner = NULL;
        _cleanup_(orch_api_token_freep) orch_api_token *t = NULL;
        char token[ORCH_TOKEN_LEN + 1], ws_id[ORCH_WS_ID_LEN + 1];
        const char *who, *scope;
        hd_error err = {0};
        json_t *o;
        bool self;

        body = api_parse_body(req, fields, HD_ARRAY_SIZE(fields), &err);
        if (!body) {
                api_reply_error(req, &err);
                return;
        }
        who = json_string_value(json_object_get(body, "user"));
        self = !who || strcmp(who, api_effective_user(req)) == 0;
        if (!who)
                who = api_effective_user(req);
        if (!self && !(req->caller.roles & USER_WRITERS)) {
                api_reply_errorf(req, HD_E_FORBIDDEN, "only a user-admin or an admin may make a token for another user");
                return;
        }
        scope = json_string_value(json_object_get(body, "workspace"));
        if (check_lifetime(req, json_integer_value(json_object_get(body, "expires_in")), &err) < 0 ||
            (scope && resolve_scope(req, scope, ws_id, &err) < 0) || !(owner = token_owner(req, who, self, &err))) {
                api_reply_error(req, &err);
                return;
        }
        if (!self && orch_user_has_role(owner, "admin") && !(req->caller.roles & API_ROLE_ADMIN)) {
                api_reply_errorf(req, HD_E_FORBIDDEN, "user '%s' is an admin: only an admin may make its tokens", who);
                return;
        }
        if (owner->disabled_at) {
                api_reply_errorf(req, HD_E_CONFLICT, "user '%s' is disabled: enable it first", who);
                return;
        }
        orch_api_token_spec spec = {
                .name = json_string_value(json_object_get(body, "name")),
                .owner = owner->name,
                .created_by = req->caller.user,
                .expires_at = (int64_t)time(NULL) + json_integer_value(json_object_get(body, "expires_in")),
                .read_only = json_is_true(json_object_get(body, "read_only")),
                .workspace = scope ? ws_id : NULL,
        };
        t = orch_api_token_create(api_store(req), &spec, token, &err);
        if (!t) {
                api_reply_error(req, &err);
                return;
        }
        o = token_json(t, t->created_at);
        json_object_set_new(o, "token", json_string(token));
        explicit_bzero(token, sizeof(token));
        api_reply_json(req, 201, o);
}

void api_list_tokens(api_request *req)
{
        const char *who = api_query(req, "user"), *all = api_query(req, "all");
        int64_t now = (int64_t)time(NULL);
        orch_api_token_list l = {0};
        hd_error err = {0};
        json_t *arr;

        if (all && strcmp(all, "true") != 0 && strcmp(all, "false") != 0) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'all' must be true or false");
                return;
        }
        if (all && strcmp(all, "true") == 0)
                who = NULL;
        else if (!who)
                who = api_effective_user(req);
        if ((!who || strcmp(who, api_effective_user(req)) != 0) && !(req->caller.roles & USER_READERS)) {
                api_reply_errorf(req, HD_E_FORBIDDEN,
                                 "only a user-admin, an auditor or an admin may list other users' tokens");
                return;
        }
        if (orch_store_token_list(api_store(req), who, &l, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        arr = json_array();
        for (size_t i = 0; i < l.count; i++)
                json_array_append_new(arr, token_json(&l.items[i], now));
        orch_api_token_list_free(&l);
        api_reply_json(req, 200, json_pack("{s:o}", "tokens", arr));
}

void api_revoke_token(api_request *req)
{
        _cleanup_(orch_api_token_freep) orch_api_token *t = NULL;
        _cleanup_(orch_user_freep) orch_user *owner = NULL;
        unsigned roles = req->caller.roles;
        hd_error err = {0};

        t = orch_store_token_get(api_store(req), req->params[0], &err);
        if (t && strcmp(t->owner, api_effective_user(req)) != 0) {
                if (!(roles & USER_READERS)) {
                        api_reply_errorf(req, HD_E_NOT_FOUND, "no token '%.64s'", req->params[0]);
                        return;
                }
                if (!(roles & USER_WRITERS)) {
                        api_reply_errorf(req, HD_E_FORBIDDEN, "only a user-admin or an admin may revoke another "
                                                              "user's token");
                        return;
                }
                owner = orch_store_user_get(api_store(req), t->owner, NULL);
                if (orch_user_has_role(owner, "admin") && !(roles & API_ROLE_ADMIN)) {
                        api_reply_errorf(req, HD_E_FORBIDDEN, "user '%s' is an admin: only an admin may revoke its tokens",
                                         t->owner);
                        return;
                }
        }
        if (!t || orch_store_token_revoke(api_store(req), t->id, &err) < 0)
                api_reply_error(req, &err);
        else
                api_reply_json(req, 204, NULL);
}

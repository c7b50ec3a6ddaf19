/* users.c — the /v1/users handlers: list, create, show, change (email,
 * groups, roles, disabled) and delete users. Reading needs user-read,
 * changing user-write (api/authz.c); on top of that, only an admin may grant
 * role admin or change, disable or delete a user who is an admin, and nobody
 * disables or deletes themselves. */
#include "api/internal.h"
#include "orchestrator/service.h"
#include "orchestrator/users.h"

#include <string.h>

#define ROLE_LIST "admin, template-admin, user-admin, auditor, member"

static json_t *names_json(char *const *v, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *user_json(const orch_user *u)
{
        return json_pack("{s:s,s:s?,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:s?}", "name", u->name, "email", u->email, "groups",
                         names_json(u->groups, u->n_groups), "roles", names_json(u->roles, u->n_roles), "disabled",
                         u->disabled_at != 0, "disabled_at", api_json_time(u->disabled_at), "created_at",
                         api_json_time(u->created_at), "updated_at", api_json_time(u->updated_at), "last_login_at",
                         api_json_time(u->last_login_at), "created_by", u->created_by);
}

static bool is_admin(const api_request *req)
{
        return req->caller.roles & API_ROLE_ADMIN;
}

/* The strings of a JSON array (borrowed; NULL-terminated, caller frees the array). */
static const char **strings_of(json_t *arr, size_t *n)
{
        const char **v = hd_malloc0((json_array_size(arr) + 1) * sizeof(char *));
        json_t *item;
        size_t i;

        json_array_foreach(arr, i, item)
                v[i] = json_string_value(item);
        *n = json_array_size(arr);
        return v;
}

/* Roles a request asks to set: each one known; admin only from an admin. */
static int check_roles(const api_request *req, const char *const *roles, size_t n, hd_error *err)
{
        for (size_t i = 0; i < n; i++) {
                unsigned bit = api_role_parse(roles[i]);
                if (!bit)
                        return hd_error_set(err, HD_E_INVALID, "unknown role '%.32s' (roles: " ROLE_LIST ")", roles[i]);
                if (bit == API_ROLE_ADMIN && !is_admin(req))
                        return hd_error_set(err, HD_E_FORBIDDEN, "only an admin may grant role admin");
        }
        return 0;
}

/* The user {name} names, when the caller may change it (write); NULL with
 * the error replied. */
static orch_user *target_user(api_request *req, bool write, const char *what)
{
        hd_error err = {0};
        orch_user *u = orch_store_user_get(api_store(req), req->params[0], &err);

        if (!u) {
                api_reply_error(req, &err);
                return NULL;
        }
        if (write && orch_user_has_role(u, "admin") && !is_admin(req)) {
                api_reply_errorf(req, HD_E_FORBIDDEN, "user '%s' is an admin: only an admin may %s it", u->name, what);
                orch_user_free(u);
                return NULL;
        }
        return u;
}

void api_list_users(api_request *req)
{
        orch_user_list l = {0};
        hd_error err = {0};
        json_t *arr;

        if (orch_store_user_list(api_store(req), &l, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        arr = json_array();
        for (size_t i = 0; i < l.count; i++)
                json_array_append_new(arr, user_json(&l.items[i]));
        orch_user_list_free(&l);
        api_reply_json(req, 200, json_pack("{s:o}", "users", arr));
}

void api_create_user(api_request *req)
{
        static const api_field fields[] = {
                {"name", F_STRING, true, 1, ORCH_USER_NAME_MAX},
                {"email", F_STRING, false, 1, ORCH_EMAIL_MAX},
                {"groups", F_STRING_ARRAY, false, 0, ORCH_USER_LIST_MAX},
                {"roles", F_STRING_ARRAY, false, 0, ORCH_USER_LIST_MAX},
        };
        static const char *const member[] = {"member"};
        _cleanup_json_ json_t *body = NULL;
        _cleanup_free_ const char **groups = NULL, **roles = NULL;
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        size_t n_groups = 0, n_roles = 1;
        hd_error err = {0};
        json_t *r;

        body = api_parse_body(req, fields, HD_ARRAY_SIZE(fields), &err);
        if (!body) {
                api_reply_error(req, &err);
                return;
        }
        groups = strings_of(json_object_get(body, "groups"), &n_groups);
        r = json_object_get(body, "roles");
        if (r)
                roles = strings_of(r, &n_roles);
        orch_user nu = {
                .name = (char *)json_string_value(json_object_get(body, "name")),
                .email = (char *)json_string_value(json_object_get(body, "email")),
                .groups = (char **)groups,
                .n_groups = n_groups,
                .roles = (char **)(roles ? roles : member),
                .n_roles = n_roles,
                .created_by = req->caller.user,
        };
        if (check_roles(req, (const char *const *)nu.roles, nu.n_roles, &err) < 0 ||
            orch_store_user_create(api_store(req), &nu, &err) < 0 ||
            !(u = orch_store_user_get(api_store(req), nu.name, &err))) {
                api_reply_error(req, &err);
                return;
        }
        api_reply_json(req, 201, user_json(u));
}

void api_get_user(api_request *req)
{
        orch_user *u = target_user(req, false, "read");

        if (!u)
                return;
        api_reply_json(req, 200, user_json(u));
        orch_user_free(u);
}

void api_update_user(api_request *req)
{
        static const api_field fields[] = {
                {"email", F_STRING, false, 0, ORCH_EMAIL_MAX},
                {"groups", F_STRING_ARRAY, false, 0, ORCH_USER_LIST_MAX},
                {"roles", F_STRING_ARRAY, false, 0, ORCH_USER_LIST_MAX},
                {"disabled", F_BOOL, false, 0, 0},
        };
        _cleanup_json_ json_t *body = NULL;
        _cleanup_free_ const char **groups = NULL, **roles = NULL;
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        orch_user_update up = {.disabled = -1};
        hd_error err = {0};
        json_t *v;

        body = api_parse_body(req, fields, HD_ARRAY_SIZE(fields), &err);
        if (!body) {
                api_reply_error(req, &err);
                return;
        }
        if (json_object_size(body) == 0) {
                api_reply_errorf(req, HD_E_INVALID, "nothing to change: give email, groups, roles or disabled");
                return;
        }
        if (!(u = target_user(req, true, "change")))
                return;
        up.email = json_string_value(json_object_get(body, "email"));
        if ((v = json_object_get(body, "groups"))) {
                up.set_groups = true;
                up.groups = groups = strings_of(v, &up.n_groups);
        }
        if ((v = json_object_get(body, "roles"))) {
                up.set_roles = true;
                up.roles = roles = strings_of(v, &up.n_roles);
        }
        if ((v = json_object_get(body, "disabled"))) {
                up.disabled = json_is_true(v);
                if (up.disabled && strcmp(u->name, req->caller.user) == 0) {
                        api_reply_errorf(req, HD_E_CONFLICT, "you cannot disable yourself");
                        return;
                }
        }
        orch_user_free(steal_ptr(u));
        if ((up.set_roles && check_roles(req, up.roles, up.n_roles, &err) < 0) ||
            orch_store_user_update(api_store(req), req->params[0], &up, &err) < 0 ||
            !(u = orch_store_user_get(api_store(req), req->params[0], &err))) {
                api_reply_error(req, &err);
                return;
        }
        api_reply_json(req, 200, user_json(u));
}

void api_delete_user(api_request *req)
{
        _cleanup_(orch_user_freep) orch_user *u = target_user(req, true, "delete");
        hd_error err = {0};

        if (!u)
                return;
        if (strcmp(u->name, req->caller.user) == 0) {
                api_reply_errorf(req, HD_E_CONFLICT, "you cannot delete yourself");
                return;
        }
        if (orch_store_user_delete(api_store(req), u->name, &err) < 0)
                api_reply_error(req, &err);
        else
                api_reply_json(req, 204, NULL);
}

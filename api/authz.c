/* authz.c — roles and what they allow: the one table that says which role
 * may use a route of each permission (default deny), token scopes, and who
 * sees which workspace. docs/identity.md has the same table for people. */
#include "api/internal.h"

#include <string.h>

#define ALL_ROLES (API_ROLE_ADMIN | API_ROLE_TEMPLATE_ADMIN | API_ROLE_USER_ADMIN | API_ROLE_AUDITOR | API_ROLE_MEMBER)

/* The roles that may use a route needing each permission. Ownership of a
 * workspace is checked again by the handler (api_caller_sees). */
static const unsigned roles_for[API_PERM__COUNT] = {
        [API_PERM_NONE] = 0,
        [API_PERM_PUBLIC] = ALL_ROLES,
        [API_PERM_SIGNED_IN] = ALL_ROLES,
        [API_PERM_WORKSPACE_READ] = ALL_ROLES,
        [API_PERM_WORKSPACE_WRITE] = API_ROLE_ADMIN | API_ROLE_TEMPLATE_ADMIN | API_ROLE_USER_ADMIN | API_ROLE_MEMBER,
        [API_PERM_CATALOG_READ] = ALL_ROLES,
        [API_PERM_CATALOG_WRITE] = API_ROLE_ADMIN | API_ROLE_TEMPLATE_ADMIN,
        [API_PERM_HOST_WRITE] = API_ROLE_ADMIN,
        [API_PERM_USER_READ] = API_ROLE_ADMIN | API_ROLE_USER_ADMIN | API_ROLE_AUDITOR,
        [API_PERM_USER_WRITE] = API_ROLE_ADMIN | API_ROLE_USER_ADMIN,
        [API_PERM_AUDIT_READ] = API_ROLE_ADMIN | API_ROLE_AUDITOR,
};

static const char *const role_names[] = {"admin", "template-admin", "user-admin", "auditor", "member"};

const char *api_role_name(unsigned role_bit)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(role_names); i++)
                if (role_bit == 1u << i)
                        return role_names[i];
        return NULL;
}

unsigned api_role_parse(const char *name)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(role_names); i++)
                if (strcmp(name, role_names[i]) == 0)
                        return 1u << i;
        return 0;
}

static bool is_read(const char *method)
{
        return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

int api_authorize(const api_request *req, api_perm perm, hd_error *err)
{
        const api_caller *c = &req->caller;

        if ((unsigned)perm >= API_PERM__COUNT || perm == API_PERM_NONE)
                return hd_error_set(err, HD_E_FORBIDDEN, "this route is closed to everybody");
        if (perm == API_PERM_PUBLIC)
                return 0;
        if (!c->authenticated)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "sign in first (wsctl login)");
        if (c->scope_read_only && !is_read(req->method))
                return hd_error_set(err, HD_E_FORBIDDEN, "this token is read-only (scope read-only)");
        if (c->scope_workspace[0] && perm != API_PERM_WORKSPACE_READ && perm != API_PERM_WORKSPACE_WRITE)
                return hd_error_set(err, HD_E_FORBIDDEN, "this token may only be used on workspace '%s'",
                                    c->scope_workspace);
        /* A write route without a workspace in its path makes one: not for a scoped token. */
        if (c->scope_workspace[0] && perm == API_PERM_WORKSPACE_WRITE && !req->params[0])
                return hd_error_set(err, HD_E_FORBIDDEN,
                                    "this token may only be used on workspace '%s', not to make others",
                                    c->scope_workspace);
        if (!(c->roles & roles_for[perm]))
                return hd_error_set(err, HD_E_FORBIDDEN, "your roles do not allow %s %s", req->method, req->path);
        return 0;
}

const char *api_effective_user(const api_request *req)
{
        return req->caller.on_behalf_of[0] ? req->caller.on_behalf_of : req->caller.user;
}

size_t api_effective_groups(const api_request *req, const char *out[API_MAX_GROUPS])
{
        const api_caller *c = &req->caller;
        bool behalf = c->on_behalf_of[0] != '\0';
        size_t n = behalf ? c->n_behalf_groups : c->n_groups;

        for (size_t i = 0; i < n; i++)
                out[i] = behalf ? c->behalf_groups[i] : c->groups[i];
        return n;
}

bool api_caller_sees(const api_request *req, const char *owner, const char *ws_id, const char *ws_name,
                     bool write)
{
        const api_caller *c = &req->caller;
        const char *scope = c->scope_workspace;

        if (!c->authenticated)
                return false;
        if (scope[0] && strcmp(scope, ws_id ? ws_id : "") != 0 && strcmp(scope, ws_name ? ws_name : "") != 0)
                return false;
        if (c->on_behalf_of[0])
                return owner && strcmp(owner, c->on_behalf_of) == 0;
        if (c->roles & API_ROLE_ADMIN)
                return true;
        if (!write && (c->roles & API_ROLE_AUDITOR))
                return true;
        return owner && strcmp(owner, c->user) == 0;
}

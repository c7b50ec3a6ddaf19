/* internal.h — what the files of api/ share: the request being served, the
 * route table, strict JSON body parsing and response helpers. */
#pragma once

#include "api/api.h"
#include "common/common.h"

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/* jansson's own scope cleanup (json_decrefp is NULL-safe). */
#define _cleanup_json_ _cleanup_(json_decrefp)

#define API_MAX_PARAMS 2
#define API_MAX_GROUPS 32
#define API_NAME_MAX 64

/* ---- identity and permissions (docs/identity.md) ---------------------------- */

/* Roles, as bits: a caller may hold several. */
enum {
        API_ROLE_ADMIN = 1u << 0,          /* everything */
        API_ROLE_TEMPLATE_ADMIN = 1u << 1, /* images and templates */
        API_ROLE_USER_ADMIN = 1u << 2,     /* users, groups, others' tokens; never makes an admin */
        API_ROLE_AUDITOR = 1u << 3,        /* reads everything, the audit log included; writes nothing */
        API_ROLE_MEMBER = 1u << 4,         /* own workspaces only */
};

/* What a route needs. Every route names one; API_PERM_NONE (a route that
 * forgot) is refused to everybody: default deny. */
typedef enum api_perm {
        API_PERM_NONE = 0,
        API_PERM_PUBLIC,          /* no credentials needed (health) */
        API_PERM_SIGNED_IN,       /* any authenticated caller; the handler scopes to the caller */
        API_PERM_WORKSPACE_READ,  /* own workspaces; auditor and admin: all (others' are 404, not 403) */
        API_PERM_WORKSPACE_WRITE, /* own workspaces; admin: all */
        API_PERM_CATALOG_READ,    /* images, templates, GPUs */
        API_PERM_CATALOG_WRITE,   /* images, templates: template-admin, admin */
        API_PERM_HOST_WRITE,      /* GPU refresh and clear, host settings: admin */
        API_PERM_USER_READ,       /* users and their tokens: user-admin, auditor, admin */
        API_PERM_USER_WRITE,      /* users and others' tokens: user-admin, admin */
        API_PERM_AUDIT_READ,      /* the audit log: auditor, admin */
        API_PERM__COUNT
} api_perm;

/* Who is asking, once authenticated. */
typedef struct api_caller {
        bool authenticated;
        char user[API_NAME_MAX];        /* the principal; owner of what it creates */
        char groups[API_MAX_GROUPS][API_NAME_MAX];
        size_t n_groups;
        unsigned roles;                 /* API_ROLE_* bits */
        const char *method;             /* "unix" (peer credentials), "token" or "oidc" */
        char credential[128];           /* token name or OIDC subject (for the audit log) */
        bool scope_read_only;           /* token scope: GET only */
        char scope_workspace[API_NAME_MAX]; /* token scope: this workspace (id or name) only; "" none */
        char on_behalf_of[API_NAME_MAX];    /* an admin acting for this user ("" none) */
        char behalf_groups[API_MAX_GROUPS][API_NAME_MAX]; /* that user's groups */
        size_t n_behalf_groups;
} api_caller;

/* One HTTP request from its first byte to its response. */
typedef struct api_request {
        const char *method;
        const char *path;
        hd_buf body;
        bool body_too_large;
        size_t max_body;
        bool on_unix_socket;       /* else TCP (TLS) */
        uid_t peer_uid;            /* from SO_PEERCRED on the unix socket; -1 on TCP */
        char source[64];           /* "unix:uid=1000" or "192.0.2.7:51234" */
        char user_agent[128];
        char request_id[33];       /* 32 hex digits, also sent back as X-Request-Id */
        api_caller caller;
        const char *params[API_MAX_PARAMS]; /* {name} segments of the matched route */
        char param_storage[512];   /* what params point into */
        const struct api_route *route; /* the matched route, NULL before or without one */
        void *conn;                /* struct MHD_Connection * */
        api_server *server;
        /* The response the handler chose. */
        unsigned status;
        json_t *response;          /* NULL for an empty body (204) */
        unsigned retry_after;      /* seconds, sent as Retry-After when not 0 (429) */
        void *stream;              /* instead: an event stream (api/events.h) */
} api_request;

typedef void (*api_handler)(api_request *req);

typedef struct api_route {
        const char *method;
        const char *pattern;       /* "/v1/workspaces/{ref}/start" */
        api_handler handler;
        api_perm perm;
} api_route;

extern const api_route api_routes[];
extern const size_t api_routes_count;

/* Find the route for method and path: 0 found (req->params filled), or
 * 404 (no such path) / 405 (path exists, not with this method). */
int api_route_match(const char *method, const char *path, const api_route **route,
                    const char *params[API_MAX_PARAMS], char storage[], size_t storage_len);

/* auth.c: establish req->caller: peer credentials on the unix socket, or
 * the bearer token of the Authorization header (API token or OIDC). 0, or
 * -1 with HD_E_UNAUTHENTICATED (401) and why. */
int api_authenticate(api_request *req, hd_error *err);
/* auth-token.c: an hostd API token ("hdt_..."); auth-oidc.c: an OIDC JWT. */
int api_auth_token(api_request *req, const char *token, hd_error *err);
int api_auth_oidc(api_request *req, const char *token, hd_error *err);
/* auth-token.c: a unix-socket caller with a user record of its name gets the
 * record's roles and groups (root excepted: always admin); a disabled
 * record is refused (HD_E_FORBIDDEN). */
int api_apply_user_record(api_request *req, bool is_root, hd_error *err);
/* The caller's name, roles (names this hostd does not know grant nothing)
 * and groups from a user record (orchestrator/users.h), e.g. after an OIDC
 * sign-in's orch_store_user_upsert_login(). */
struct orch_user;
void api_caller_from_user(api_caller *c, const struct orch_user *u);
/* The value of a request header, or NULL. */
const char *api_header(const api_request *req, const char *name);

/* authz.c: may the caller use a route that needs perm? 0, or -1 with
 * HD_E_FORBIDDEN (403). */
int api_authorize(const api_request *req, api_perm perm, hd_error *err);
/* Whether the caller may see (write false) or act on (write true) a
 * workspace of owner; callers that may not get 404 for it, as for one that
 * does not exist. */
bool api_caller_sees(const api_request *req, const char *owner, const char *ws_id, const char *ws_name,
                     bool write);
/* The user a request acts for: on_behalf_of when an admin set it, else the caller. */
const char *api_effective_user(const api_request *req);
/* That user's groups (its user record's, else its unix account's), as
 * pointers into req->caller; returns how many. */
size_t api_effective_groups(const api_request *req, const char *out[API_MAX_GROUPS]);
/* Role names: "admin", "template-admin", "user-admin", "auditor", "member". */
const char *api_role_name(unsigned role_bit);
unsigned api_role_parse(const char *name); /* 0: unknown */

/* ---- strict request bodies ---------------------------------------------- */
typedef enum { F_STRING, F_INT, F_BOOL, F_STRING_ARRAY, F_OBJECT /* any object: the handler checks it */ } api_field_type;

typedef struct api_field {
        const char *name;
        api_field_type type;
        bool required;
        long long min, max;        /* F_INT: value range; F_STRING(_ARRAY): length/count */
} api_field;

/* Parse req->body as one JSON object with exactly these fields (unknown
 * fields, duplicate keys, wrong types and values out of range are refused
 * with a message that names the field). */
json_t *api_parse_body(const api_request *req, const api_field *fields, size_t n, hd_error *err);

/* ---- responses ------------------------------------------------------------ */
unsigned api_status_for(hd_errcode code);
void api_reply_json(api_request *req, unsigned status, json_t *body); /* steals body */
void api_reply_error(api_request *req, const hd_error *err);
void api_reply_errorf(api_request *req, hd_errcode code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* ISO 8601 UTC for a unix time; JSON null for 0. */
json_t *api_json_time(long long t);

/* Query parameter of the request, or NULL. */
const char *api_query(const api_request *req, const char *key);

/* The orchestrator the handlers drive, and its store. */
orch_service *api_service(const api_request *req);
struct orch_store *api_store(const api_request *req);
/* hostd's version, for /v1/health. */
const char *api_version(const api_request *req);

/* templates.c: the /v1/templates handlers. */
void api_push_template(api_request *req);
void api_list_templates(api_request *req);
void api_get_template(api_request *req);
void api_diff_template(api_request *req);
void api_delete_template(api_request *req);

/* users.c and tokens.c: /v1/users and /v1/tokens (docs/identity.md). */
void api_list_users(api_request *req);
void api_create_user(api_request *req);
void api_get_user(api_request *req);
void api_update_user(api_request *req);
void api_delete_user(api_request *req);
void api_create_token(api_request *req);
void api_list_tokens(api_request *req);
void api_revoke_token(api_request *req);
/* The longest lifetime a new API token may have (token_max_lifetime), seconds. */
unsigned api_token_max_lifetime(const api_request *req);
/* quotas.c: the /v1/quotas handlers (docs/quotas.md). */
void api_quota_me(api_request *req);
void api_quota_list(api_request *req);
void api_quota_put_user(api_request *req);
void api_quota_put_group(api_request *req);
void api_quota_delete_user(api_request *req);
void api_quota_delete_group(api_request *req);
/* The workspace {ref} names when the caller may see it (write: act on it);
 * else NULL and 404, as for a name that never existed (handlers.c). */
struct orch_workspace;
struct orch_workspace *api_visible_workspace(api_request *req, bool write, hd_error *err);
/* startup.c: a workspace's startup script. */
void api_startup_json(api_request *req, const struct orch_workspace *ws, json_t *o);
void api_get_startup_log(api_request *req);

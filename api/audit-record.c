/* audit-record.c — a request's audit record (docs/audit.md lists every
 * field) and the two hooks server.c calls around a handler: the gate that
 * refuses a mutating request when its record could not be written, and the
 * append once the answer is known. */
#include "api/audit.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static bool mutating(const char *method)
{
        return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0 ||
               strcmp(method, "DELETE") == 0;
}

bool api_audit_wanted(const api_request *req)
{
        return mutating(req->method) || req->status == 401;
}

/* The bearer token the request carried, if any: never written, only
 * searched for so that it cannot appear anywhere in the record. */
static const char *bearer_of(const api_request *req)
{
        const char *h = req->conn ? api_header(req, MHD_HTTP_HEADER_AUTHORIZATION) : NULL;

        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
                return NULL;
        h += 7;
        while (*h == ' ')
                h++;
        return *h ? h : NULL;
}

/* How the caller signed in, or tried to. */
static const char *method_of(const api_request *req)
{
        const char *token = bearer_of(req);

        if (req->caller.authenticated && req->caller.method)
                return req->caller.method;
        if (token)
                return strchr(token, '.') ? "oidc" : "token";
        if (req->conn && api_header(req, MHD_HTTP_HEADER_AUTHORIZATION))
                return "other";
        return req->on_unix_socket ? "unix" : "none";
}

static json_t *actor_json(const api_request *req)
{
        const api_caller *c = &req->caller;
        const char *bearer = bearer_of(req);
        json_t *roles = json_array();

        for (unsigned bit = 1; bit && bit <= c->roles; bit <<= 1)
                if ((c->roles & bit) && api_role_name(bit))
                        json_array_append_new(roles, json_string(api_role_name(bit)));
        return json_pack("{s:o,s:s,s:o,s:o,s:o}", "user", api_audit_text(c->authenticated ? c->user : NULL),
                         "method", method_of(req), "credential",
                         c->authenticated && c->credential[0] ? api_audit_redact_string(c->credential, bearer)
                                                              : json_null(),
                         "on_behalf_of", api_audit_text(c->on_behalf_of[0] ? c->on_behalf_of : NULL), "roles",
                         roles);
}

/* "workspaces" -> "workspace". */
static json_t *singular(const char *seg, size_t len)
{
        if (len > 1 && seg[len - 1] == 's')
                len--;
        return json_stringn(seg, len);
}

/* The resource: the collection before the route's last {param} and that
 * param's value; without a param, the route's first collection and the id
 * or name the answer (or else the request body) gives. */
static json_t *resource_json(const api_request *req, const api_route *route, const char *const *params,
                             const json_t *body)
{
        const char *seg[16], *p, *id = NULL;
        size_t len[16], n = 0, type = 0;
        int nparams = 0;
        const json_t *from;

        if (!route)
                return json_pack("{s:n,s:n}", "type", "id");
        p = route->pattern + (strncmp(route->pattern, "/v1/", 4) == 0 ? 3 : 0);
        while (*p == '/' && n < HD_ARRAY_SIZE(seg)) {
                seg[n] = ++p;
                len[n] = strcspn(p, "/");
                p += len[n];
                if (*seg[n] == '{' && n > 0) {
                        nparams++;
                        type = n - 1;
                }
                n++;
        }
        if (n == 0)
                return json_pack("{s:n,s:n}", "type", "id");
        if (nparams && nparams <= API_MAX_PARAMS)
                id = params[nparams - 1];
        if (!nparams) {
                from = req->status < 300 && json_is_object(req->response) ? req->response : body;
                id = json_string_value(json_object_get(from, "id"));
                if (!id)
                        id = json_string_value(json_object_get(from, "name"));
        }
        return json_pack("{s:o,s:o}", "type", singular(seg[type], len[type]), "id",
                         api_audit_redact_string(id, bearer_of(req)));
}

typedef struct query_ctx {
        json_t *obj;
        const char *bearer;
} query_ctx;

/* One query parameter, redacted as the field it is ({"access_token": …}
 * hides its value). */
static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        query_ctx *q = cls;
        json_t *one = json_object(), *red;

        if (json_object_size(q->obj) < 32 && json_object_set_new(one, key, api_audit_text(value)) == 0) {
                red = api_audit_redact(one, q->bearer);
                json_object_update(q->obj, red);
                json_decref(red);
        }
        json_decref(one);
        return MHD_YES;
}

static json_t *query_json(const api_request *req)
{
        query_ctx q = {json_object(), bearer_of(req)};

        if (req->conn)
                MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_query, &q);
        if (json_object_size(q.obj) == 0) {
                json_decref(q.obj);
                return json_null();
        }
        return q.obj;
}

/* The body's fields, redacted; null without a body. */
static json_t *diff_json(const api_request *req, const json_t *body)
{
        if (req->body_too_large)
                return json_sprintf("[a body over %zu bytes: not read]", req->max_body);
        if (req->body.len == 0)
                return json_null();
        if (!body)
                return json_sprintf("[%zu bytes that are not JSON]", req->body.len);
        return api_audit_redact(body, bearer_of(req));
}

/* Where the request came from; on the unix socket with the peer's uid even
 * when it never got as far as authentication (a 401, a path with no route). */
static json_t *source_json(const api_request *req)
{
        const union MHD_ConnectionInfo *ci;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        char buf[64];

        if (!req->on_unix_socket || req->peer_uid != (uid_t)-1 || !req->conn)
                return api_audit_text(req->source);
        ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return api_audit_text(req->source);
        snprintf(buf, sizeof(buf), "unix:uid=%u", (unsigned)cred.uid);
        return json_string(buf);
}

json_t *api_audit_request_record(const api_request *req)
{
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *action = NULL;
        const char *error = NULL;
        unsigned status = req->status ? req->status : 500;
        const api_route *route = req->route;
        const char *params[API_MAX_PARAMS];
        char now[32], storage[512];

        memcpy(params, req->params, sizeof(params));

        if (!req->body_too_large && req->body.len)
                body = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, NULL);
        if (status >= 400)
                error = json_string_value(json_object_get(json_object_get(req->response, "error"), "code"));
        /* A request refused before dispatch (413) still names its route. */
        if (!route && strlen(req->path) <= 400 &&
            api_route_match(req->method, req->path, &route, params, storage, sizeof(storage)) != 0)
                route = NULL;
        action = hd_asprintf("%s %s", req->method, route ? route->pattern : "(no route)");
        api_audit_time(api_audit_now_ms(), now);
        return json_pack("{s:i,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:o}", "v", 1, "time", now,
                         "request_id", req->request_id, "actor", actor_json(req), "source", source_json(req),
                         "user_agent", api_audit_text(req->user_agent[0] ? req->user_agent : NULL), "action",
                         api_audit_text(action), "path", api_audit_redact_string(req->path, bearer_of(req)),
                         "resource", resource_json(req, route, params, body), "outcome", (int)status, "error",
                         api_audit_text(error), "query", query_json(req), "diff", diff_json(req, body));
}

/* ---- the hooks ------------------------------------------------------------------------ */

int api_audit_begin(api_request *req)
{
        api_audit *a = api_audit_of(req);
        hd_error err = {0};

        if (!a || !mutating(req->method) || api_audit_ready(a, &err) == 0)
                return 0;
        /* Only an admin sees the file and the database's own words. */
        if (req->caller.roles & API_ROLE_ADMIN)
                api_reply_errorf(req, HD_E_IO, "audit log unavailable, so the request was not carried out: %s",
                                 err.message);
        else
                api_reply_errorf(req, HD_E_IO, "audit log unavailable, so the request was not carried out "
                                               "(hostd's log says why)");
        return -1;
}

void api_audit_end(api_request *req)
{
        api_audit *a = api_audit_of(req);
        json_t *rec;

        if (!a || !api_audit_wanted(req))
                return;
        rec = api_audit_request_record(req);
        if (rec)
                api_audit_append(a, rec, NULL);
}

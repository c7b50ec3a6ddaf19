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

/* One HTTP request from its first byte to its response. */
typedef struct api_request {
        const char *method;
        const char *path;
        hd_buf body;
        bool body_too_large;
        size_t max_body;
        uid_t peer_uid;            /* from SO_PEERCRED on the unix socket */
        char peer_user[64];        /* the caller's user name: the workspace owner */
        const char *params[API_MAX_PARAMS]; /* {name} segments of the matched route */
        void *conn;                /* struct MHD_Connection * */
        api_server *server;
        /* The response the handler chose. */
        unsigned status;
        json_t *response;          /* NULL for an empty body (204) */
} api_request;

typedef void (*api_handler)(api_request *req);

typedef struct api_route {
        const char *method;
        const char *pattern;       /* "/v1/workspaces/{ref}/start" */
        api_handler handler;
} api_route;

extern const api_route api_routes[];
extern const size_t api_routes_count;

/* Find the route for method and path: 0 found (req->params filled), or
 * 404 (no such path) / 405 (path exists, not with this method). */
int api_route_match(const char *method, const char *path, const api_route **route,
                    const char *params[API_MAX_PARAMS], char storage[], size_t storage_len);

/* ---- strict request bodies ---------------------------------------------- */
typedef enum { F_STRING, F_INT, F_BOOL, F_STRING_ARRAY } api_field_type;

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

/* The orchestrator the handlers drive. */
orch_service *api_service(const api_request *req);
/* hostd's version, for /v1/health. */
const char *api_version(const api_request *req);

/* templates.c: the /v1/templates handlers. */
void api_push_template(api_request *req);
void api_list_templates(api_request *req);
void api_get_template(api_request *req);
void api_diff_template(api_request *req);
void api_delete_template(api_request *req);

/* startup.c: a workspace's startup script. */
struct orch_workspace;
void api_startup_json(api_request *req, const struct orch_workspace *ws, json_t *o);
void api_get_startup_log(api_request *req);

/* server.c — the libmicrohttpd server on hostd's unix socket: accept,
 * collect the body within its limit, identify the caller, dispatch. */
#include "api/audit.h"
#include "api/internal.h"

#include <errno.h>
#include <grp.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/un.h>
#include <unistd.h>

struct api_server {
        struct MHD_Daemon *mhd;
        orch_service *svc;
        api_config cfg;
        char *socket_path;
        int listen_fd;
        api_audit *audit;
};

orch_service *api_service(const api_request *req)
{
        return req->server->svc;
}

api_audit *api_audit_of(const api_request *req)
{
        return req->server ? req->server->audit : NULL;
}

const char *api_version(const api_request *req)
{
        return req->server->cfg.version ? req->server->cfg.version : "unknown";
}

/* Bind the unix socket, replacing a stale one, with the configured mode and
 * group set before anyone can connect (bind under a umask that allows nothing). */
static int listen_unix(const api_config *cfg, hd_error *err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        struct stat st;
        mode_t old;
        int r;

        if (strlen(cfg->socket_path) >= sizeof(sa.sun_path))
                return hd_error_set(err, HD_E_INVALID, "socket path %s is too long", cfg->socket_path);
        strcpy(sa.sun_path, cfg->socket_path);
        if (lstat(cfg->socket_path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return hd_error_set(err, HD_E_IO, "%s exists and is not a socket", cfg->socket_path);
                unlink(cfg->socket_path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "socket");
        old = umask(0777);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot bind %s", cfg->socket_path);
        if (cfg->socket_group && *cfg->socket_group) {
                struct group *g = getgrnam(cfg->socket_group);
                if (!g) {
                        unlink(cfg->socket_path);
                        return hd_error_set(err, HD_E_INVALID, "socket_group '%s' does not exist (create it: groupadd %s)",
                                            cfg->socket_group, cfg->socket_group);
                }
                if (chown(cfg->socket_path, (uid_t)-1, g->gr_gid) < 0) {
                        unlink(cfg->socket_path);
                        return hd_error_errno(err, HD_E_IO, errno, "cannot chown %s", cfg->socket_path);
                }
        }
        if (chmod(cfg->socket_path, cfg->socket_mode) < 0 || listen(fd, 64) < 0) {
                unlink(cfg->socket_path);
                return hd_error_errno(err, HD_E_IO, errno, "cannot listen on %s", cfg->socket_path);
        }
        return steal_fd(&fd);
}

/* Fill what the audit log and the logs say about the request's origin. */
static void describe_request(api_request *req, struct MHD_Connection *conn)
{
        const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
        unsigned char id[16];

        req->peer_uid = (uid_t)-1;
        req->on_unix_socket = true;
        snprintf(req->source, sizeof(req->source), "unix");
        snprintf(req->user_agent, sizeof(req->user_agent), "%s", ua ? ua : "");
        if (getrandom(id, sizeof(id), 0) != sizeof(id))
                memset(id, 0, sizeof(id));
        for (size_t i = 0; i < sizeof(id); i++)
                snprintf(req->request_id + 2 * i, 3, "%02x", id[i]);
}

static void dispatch(api_request *req)
{
        const api_route *route = NULL;
        hd_error err = {0};
        int r;

        if (strlen(req->path) > 400) {
                api_reply_errorf(req, HD_E_INVALID, "request path is too long");
                return;
        }
        r = api_route_match(req->method, req->path, &route, req->params, req->param_storage,
                            sizeof(req->param_storage));
        req->route = r == 0 ? route : NULL;
        if (r == 404) {
                api_reply_errorf(req, HD_E_NOT_FOUND, "no such path: %s", req->path);
                return;
        }
        if (r == 405) {
                api_reply_json(req, 405, json_pack("{s:{s:s,s:s+}}", "error", "code", "method_not_allowed",
                                                   "message", req->method, " is not allowed on this path"));
                return;
        }
        if (route->perm != API_PERM_PUBLIC && api_authenticate(req, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        if (api_authorize(req, route->perm, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        /* A mutating request runs only when its record can be written. */
        if (api_audit_begin(req) < 0)
                return;
        route->handler(req);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, api_request *req)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char *text = NULL;
        size_t len = 0;

        if (req->response) {
                text = json_dumps(req->response, JSON_COMPACT | JSON_ENSURE_ASCII);
                if (!text)
                        abort();
                len = strlen(text);
        }
        resp = MHD_create_response_from_buffer(len, text ? text : (char *)"", text ? MHD_RESPMEM_MUST_FREE
                                                                                 : MHD_RESPMEM_PERSISTENT);
        if (text)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, "X-Request-Id", req->request_id);
        if (req->status == 401)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hostd\"");
        ret = MHD_queue_response(conn, req->status ? req->status : 500, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        api_server *srv = cls;
        api_request *req = *con_cls;

        if (!req) {
                const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
                req = hd_malloc0(sizeof(*req));
                req->method = method;
                req->path = url;
                req->conn = conn;
                req->server = srv;
                req->max_body = srv->cfg.max_body;
                describe_request(req, conn);
                *con_cls = req;
                /* Refuse an announced oversized body before reading any of it. */
                if (clen && strtoull(clen, NULL, 10) > srv->cfg.max_body) {
                        req->body_too_large = true;
                        api_reply_errorf(req, HD_E_TOO_LARGE, "request body is larger than %zu bytes",
                                         srv->cfg.max_body);
                        api_audit_end(req);
                        return send_reply(conn, req);
                }
                return MHD_YES;
        }
        if (*upload_data_size) {
                if (req->body.len + *upload_data_size > srv->cfg.max_body)
                        req->body_too_large = true;
                else
                        hd_buf_append_len(&req->body, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (req->body_too_large)
                api_reply_errorf(req, HD_E_TOO_LARGE, "request body is larger than %zu bytes", srv->cfg.max_body);
        else
                dispatch(req);
        /* Every mutating request and every 401 leaves one record, whatever its answer. */
        api_audit_end(req);
        return send_reply(conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        api_request *req = *con_cls;

        if (!req)
                return;
        hd_buf_free(&req->body);
        if (req->response)
                json_decref(req->response);
        free(req);
        *con_cls = NULL;
}

api_server *api_server_start(const api_config *cfg, orch_service *svc, hd_error *err)
{
        api_server *srv = hd_malloc0(sizeof(*srv));
        int fd = listen_unix(cfg, err);

        if (fd < 0) {
                free(srv);
                return NULL;
        }
        srv->svc = svc;
        srv->cfg = *cfg;
        srv->socket_path = hd_strdup(cfg->socket_path);
        srv->listen_fd = fd;
        if (cfg->audit_db) {
                api_audit_config acfg = {
                        .file = cfg->audit_file,
                        .db = cfg->audit_db,
                        .retention_days = cfg->audit_retention_days,
                        .alert = cfg->log_error,
                };

                srv->audit = api_audit_open(&acfg, err);
                if (!srv->audit) {
                        unlink(srv->socket_path);
                        close(fd);
                        free(srv->socket_path);
                        free(srv);
                        return NULL;
                }
        }
        srv->mhd = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, srv,
                MHD_OPTION_LISTEN_SOCKET, fd,
                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : 4),
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                MHD_OPTION_END);
        if (!srv->mhd) {
                api_audit_close(srv->audit);
                unlink(srv->socket_path);
                close(fd);
                free(srv->socket_path);
                free(srv);
                hd_error_set(err, HD_E_IO, "cannot start the HTTP server on %s", cfg->socket_path);
                return NULL;
        }
        return srv;
}

void api_server_stop(api_server *srv)
{
        if (!srv)
                return;
        MHD_stop_daemon(srv->mhd);
        api_audit_close(srv->audit);
        close(srv->listen_fd);
        unlink(srv->socket_path);
        free(srv->socket_path);
        free(srv);
}

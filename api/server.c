/* server.c — the libmicrohttpd servers on hostd's unix socket and (through
 * https.c) its TLS port: accept, hold connections to their deadlines,
 * collect the body within its limit, identify the caller (refusing an
 * address with too many failed attempts), dispatch. */
#include "api/audit.h"
#include "api/events.h"
#include "api/https.h"
#include "api/oidc.h"
#include "api/limits.h"
#include "orchestrator/service.h"

#include <errno.h>
#include <fcntl.h>
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

/* Addresses the authentication failure limiter remembers at most. */
#define RATELIMIT_SLOTS 4096

struct api_server {
        struct MHD_Daemon *mhd;   /* the unix socket */
        api_https *https;         /* NULL without `listen` */
        api_deadlines *deadlines; /* both listeners' connections */
        api_ratelimit *limiter;   /* TCP only */
        orch_service *svc;
        api_config cfg;
        char *socket_path;
        int listen_fd;            /* the unix socket (libmicrohttpd has its own copy) */
        api_oidc *oidc;            /* NULL: OIDC is off */
        api_streams *streams;
        api_audit *audit;
};

api_streams *api_server_streams(const api_request *req)
{
        return req->server->streams;
}

orch_service *api_service(const api_request *req)
{
        return req->server->svc;
}

orch_store *api_store(const api_request *req)
{
        return orch_service_store(req->server->svc);
}

api_audit *api_audit_of(const api_request *req)
{
        return req->server ? req->server->audit : NULL;
}

api_oidc *api_server_oidc(const api_request *req)
{
        return req->server->oidc;
}

const char *api_version(const api_request *req)
{
        return req->server->cfg.version ? req->server->cfg.version : "unknown";
}

unsigned api_token_max_lifetime(const api_request *req)
{
        return req->server->cfg.token_max_lifetime ? req->server->cfg.token_max_lifetime : 90u * 24 * 3600;
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
        /* A burst of local clients (a CI job creating 100 workspaces) waits in
         * the backlog while the pool is busy instead of getting EAGAIN. */
        if (chmod(cfg->socket_path, cfg->socket_mode) < 0 || listen(fd, SOMAXCONN) < 0) {
                unlink(cfg->socket_path);
                return hd_error_errno(err, HD_E_IO, errno, "cannot listen on %s", cfg->socket_path);
        }
        return steal_fd(&fd);
}

static const struct sockaddr *peer_address(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        return ci ? ci->client_addr : NULL;
}

/* Fill what the audit log and the logs say about the request's origin: a
 * TCP peer is "IP:port" (and never on the unix socket, whatever it sends). */
static void describe_request(api_request *req, struct MHD_Connection *conn)
{
        const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
        unsigned char id[16];

        req->peer_uid = (uid_t)-1;
        req->on_unix_socket = !api_peer_format(peer_address(conn), req->source, sizeof(req->source));
        if (req->on_unix_socket)
                snprintf(req->source, sizeof(req->source), "unix");
        snprintf(req->user_agent, sizeof(req->user_agent), "%s", ua ? ua : "");
        if (getrandom(id, sizeof(id), 0) != sizeof(id))
                memset(id, 0, sizeof(id));
        for (size_t i = 0; i < sizeof(id); i++)
                snprintf(req->request_id + 2 * i, 3, "%02x", id[i]);
}

/* Over TCP, an address that failed to authenticate too often gets 429
 * until its bucket refills, before its credentials are even looked at. */
static bool rate_limited(api_request *req, char key[API_ADDR_KEY_MAX])
{
        unsigned wait;

        if (req->on_unix_socket || !req->server->limiter || !api_peer_key(peer_address(req->conn), key)) {
                key[0] = '\0';
                return false;
        }
        wait = api_ratelimit_check(req->server->limiter, key, api_now_ms());
        if (!wait)
                return false;
        req->retry_after = wait;
        api_reply_json(req, 429, json_pack("{s:{s:s,s:s}}", "error", "code", "rate_limited", "message",
                                           "too many failed authentications from this address; try again later"));
        return true;
}

static int authenticate(api_request *req, hd_error *err)
{
        char key[API_ADDR_KEY_MAX];

        if (rate_limited(req, key))
                return -1;
        if (api_authenticate(req, err) == 0)
                return 0;
        if (key[0] && err->code == HD_E_UNAUTHENTICATED)
                api_ratelimit_failed(req->server->limiter, key, api_now_ms());
        api_reply_error(req, err);
        return -1;
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
        if (route->perm != API_PERM_PUBLIC && authenticate(req, &err) < 0)
                return;
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

        if (req->stream)
                return api_stream_queue(conn, req);
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
        if (req->retry_after) {
                char secs[16];
                snprintf(secs, sizeof(secs), "%u", req->retry_after);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
        }
        ret = MHD_queue_response(conn, req->status ? req->status : 500, resp);
        MHD_destroy_response(resp);
        return ret;
}

static api_conn_deadline *deadline_of(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci ? ci->socket_context : NULL;
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
                api_deadlines_headers(srv->deadlines, deadline_of(conn));
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
        api_deadlines_received(srv->deadlines, deadline_of(conn));
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
        api_server *srv = cls;
        api_request *req = *con_cls;

        /* A kept-alive connection has the same time again for its next request. */
        api_deadlines_rearm(srv->deadlines, deadline_of(conn), api_now_ms());
        if (!req)
                return;
        hd_buf_free(&req->body);
        if (req->response)
                json_decref(req->response);
        free(req);
        *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
        api_server *srv = cls;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (ci)
                        *socket_context = api_deadlines_open(srv->deadlines, ci->connect_fd, api_now_ms());
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                api_deadlines_close(srv->deadlines, *socket_context);
                *socket_context = NULL;
        }
}

/* libmicrohttpd closes the listening socket it is given when it stops, and
 * also when it fails to start: it gets a copy, so that a failed start (a
 * certificate GnuTLS refuses on reload) cannot close the socket in use. */
struct MHD_Daemon *api_server_mhd(api_server *srv, int fd, unsigned flags, const struct MHD_OptionItem *extra)
{
        static const struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
        const api_config *cfg = &srv->cfg;
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);

        if (copy < 0)
                return NULL;
        return MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | flags, 0, NULL, NULL, on_request, srv,
                MHD_OPTION_LISTEN_SOCKET, copy,
                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : 4),
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections + cfg->max_event_streams),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->max_header_size ? cfg->max_header_size : (size_t)(64 * 1024),
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
                MHD_OPTION_ARRAY, extra ? extra : none,
                MHD_OPTION_END);
}

static void server_free(api_server *srv)
{
        if (srv->listen_fd >= 0)
                close(srv->listen_fd);
        api_deadlines_free(srv->deadlines);
        api_ratelimit_free(srv->limiter);
        api_oidc_free(srv->oidc);
        api_streams_free(srv->streams);
        api_audit_close(srv->audit);
        free(srv->socket_path);
        free(srv);
}

api_server *api_server_start(const api_config *cfg, orch_service *svc, hd_error *err)
{
        api_server *srv = hd_malloc0(sizeof(*srv));

        srv->svc = svc;
        srv->cfg = *cfg;
        srv->listen_fd = -1;
        if (cfg->oidc.issuer && !(srv->oidc = api_oidc_new(&cfg->oidc, err))) {
                server_free(srv);
                return NULL;
        }
        srv->deadlines = api_deadlines_new(cfg->header_timeout, cfg->request_timeout);
        if (cfg->auth_failures_per_minute)
                srv->limiter = api_ratelimit_new(cfg->auth_failures_per_minute, RATELIMIT_SLOTS);
        if (api_deadlines_start(srv->deadlines) < 0) {
                server_free(srv);
                hd_error_set(err, HD_E_INTERNAL, "cannot start the connection deadline thread");
                return NULL;
        }
        srv->listen_fd = listen_unix(cfg, err);
        if (srv->listen_fd < 0) {
                server_free(srv);
                return NULL;
        }
        srv->socket_path = hd_strdup(cfg->socket_path);
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
                        server_free(srv);
                        return NULL;
                }
        }
        /* Event streams suspend their connection while idle (api/events.c). */
        srv->streams = api_streams_new(cfg->max_event_streams);
        srv->mhd = api_server_mhd(srv, srv->listen_fd, 0, NULL);
        if (!srv->mhd) {
                unlink(srv->socket_path);
                server_free(srv);
                hd_error_set(err, HD_E_IO, "cannot start the HTTP server on %s", cfg->socket_path);
                return NULL;
        }
        if (cfg->listen && *cfg->listen) {
                srv->https = api_https_start(&srv->cfg, srv, err);
                if (!srv->https) {
                        api_server_stop(srv);
                        return NULL;
                }
        }
        return srv;
}

int api_server_reload_tls(api_server *srv, api_tls_info *info, hd_error *err)
{
        if (!srv->https)
                return hd_error_set(err, HD_E_INVALID, "no HTTPS listener (listen is not set)");
        return api_https_reload(srv->https, info, err);
}

bool api_server_tls_info(const api_server *srv, api_tls_info *info)
{
        return srv->https && api_https_info(srv->https, info);
}

void api_server_stop(api_server *srv)
{
        if (!srv)
                return;
        api_streams_close(srv->streams); /* none may stay suspended past this */
        api_https_stop(srv->https);
        MHD_stop_daemon(srv->mhd);
        unlink(srv->socket_path);
        server_free(srv);
}

/* http.c — the one file of wsctl that uses libcurl: one HTTP request to hostd
 * over its unix socket, or, after wsctl login, over HTTPS to the server kept
 * in wsctl.conf (verified against its CA, with the API token as a bearer
 * token), with time limits, no proxy and no redirects, and the event
 * stream's long GET. Everything else sees wsctl_http_send and wsctl_http_stream. */
#include "tools/wsctl/wsctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 5000L

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
        hd_buf_append_len(userdata, data, size * n);
        return size * n;
}

/* curl says only "couldn't connect"; connect once more to learn why. */
static int connect_errno(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path))
                return ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                return 0;
        /* Linux says "refused" for a file that is no socket at all. */
        if (errno == ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
                return ENOTSOCK;
        return errno;
}

static CURL *handle(wsctl_ctx *ctx)
{
        if (!ctx->http) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return NULL;
                ctx->http = curl_easy_init();
        } else {
                curl_easy_reset(ctx->http);
        }
        return ctx->http;
}

/* The URL of path: on the server wsctl logged in to, or on the socket. */
static char *request_url(wsctl_ctx *ctx, const char *path)
{
        size_t n;

        if (!wsctl_remote(ctx))
                return hd_asprintf("http://localhost%s", path);
        n = strlen(ctx->conf.server);
        return hd_asprintf("%.*s%s", (int)(n && ctx->conf.server[n - 1] == '/' ? n - 1 : n), ctx->conf.server, path);
}

/* HTTPS to the server: only https, the peer and its name verified, the token
 * as a bearer token. Returns the headers with the Authorization line added. */
static struct curl_slist *setup_remote(wsctl_ctx *ctx, CURL *c, struct curl_slist *headers)
{
        _cleanup_free_ char *auth = hd_asprintf("Authorization: Bearer %s", ctx->conf.token);

#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
#else
        curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (ctx->conf.ca)
                curl_easy_setopt(c, CURLOPT_CAINFO, ctx->conf.ca);
        headers = curl_slist_append(headers, auth);
        explicit_bzero(auth, strlen(auth));
        return headers;
}

/* What every request to hostd has: the server (HTTPS with the token) or the
 * socket, no proxy, no redirect. Returns the headers to free after the transfer. */
static struct curl_slist *common_options(wsctl_ctx *ctx, CURL *c, const char *url, struct curl_slist *headers,
                                         char *curl_err)
{
        curl_easy_setopt(c, CURLOPT_URL, url);
        if (ctx->as_user) {
                _cleanup_free_ char *as = hd_asprintf("X-On-Behalf-Of: %s", ctx->as_user);
                headers = curl_slist_append(headers, as);
        }
        if (wsctl_remote(ctx)) {
                headers = setup_remote(ctx, c, headers);
        } else {
                curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ctx->socket_path);
#if LIBCURL_VERSION_NUM >= 0x075500
                curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
#endif
        }
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "wsctl/" HOSTD_VERSION);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
        return headers;
}

/* A transfer that got no (whole) answer, in the user's words. */
static int transfer_error(wsctl_ctx *ctx, CURLcode rc, const char *method, const char *path, long timeout_ms,
                          const char *curl_err, hd_error *err)
{
        const char *why = *curl_err ? curl_err : curl_easy_strerror(rc);
        int errnum;

        if (wsctl_remote(ctx)) {
                if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
                        return hd_error_set(err, HD_E_IO, "cannot verify hostd at %s with %s: %s", ctx->conf.server,
                                            ctx->conf.ca ? ctx->conf.ca : "the system's CA certificates", why);
                if (rc == CURLE_OPERATION_TIMEDOUT)
                        return hd_error_set(err, HD_E_IO, "hostd at %s did not answer %s %s within %ld s",
                                            ctx->conf.server, method, path, timeout_ms / 1000);
                return hd_error_set(err, HD_E_IO,
                                    "cannot reach hostd at %s: %s (wsctl logout, or --socket, to use the local socket)",
                                    ctx->conf.server, why);
        }
        if (rc == CURLE_COULDNT_CONNECT && (errnum = connect_errno(ctx->socket_path)) != 0) {
                _cleanup_free_ char *msg = wsctl_unreachable_message(ctx->socket_path, errnum);
                return hd_error_set(err, HD_E_IO, "%s", msg);
        }
        if (rc == CURLE_OPERATION_TIMEDOUT)
                return hd_error_set(err, HD_E_IO, "hostd did not answer %s %s within %ld s (on %s)", method, path,
                                    timeout_ms / 1000, ctx->socket_path);
        return hd_error_set(err, HD_E_IO, "request to hostd on %s failed: %s", ctx->socket_path, why);
}

int wsctl_http_send(wsctl_ctx *ctx, const char *method, const char *path, const char *body, long timeout_ms,
                    wsctl_reply *reply, hd_error *err)
{
        _cleanup_buf_ hd_buf data = HD_BUF_INIT;
        _cleanup_free_ char *url = NULL;
        struct curl_slist *headers = NULL;
        char curl_err[CURL_ERROR_SIZE] = "";
        CURL *c = handle(ctx);
        CURLcode rc;

        if (!c)
                return hd_error_set(err, HD_E_INTERNAL, "cannot initialize libcurl");
        url = request_url(ctx, path);
        headers = curl_slist_append(headers, "Accept: application/json");
        headers = curl_slist_append(headers, "Expect:");
        /* "Content-Type:" with no value stops curl sending its form default. */
        headers = curl_slist_append(headers, body ? "Content-Type: application/json" : "Content-Type:");
        headers = common_options(ctx, c, url, headers, curl_err);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &data);
        if (body || strcmp(method, "POST") == 0) {
                /* A POST without a body still says Content-Length: 0. */
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
        }
        rc = curl_easy_perform(c);
        curl_slist_free_all(headers);
        if (rc != CURLE_OK)
                return transfer_error(ctx, rc, method, path, timeout_ms, curl_err, err);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
        reply->body = hd_buf_steal(&data);
        return 0;
}

typedef struct stream_state {
        CURL *c;
        wsctl_stream_fn fn;
        void *opaque;
        long status;    /* 0 until the first byte of the body */
        hd_buf other;   /* the body of an answer other than 200 */
        bool stopped;   /* fn said so */
} stream_state;

static size_t stream_write(char *data, size_t size, size_t n, void *userdata)
{
        stream_state *st = userdata;

        if (!st->status)
                curl_easy_getinfo(st->c, CURLINFO_RESPONSE_CODE, &st->status);
        if (st->status != 200) {
                hd_buf_append_len(&st->other, data, size * n);
                return size * n;
        }
        if (st->fn(st->opaque, data, size * n) != 0) {
                st->stopped = true;
                return 0; /* curl ends the transfer */
        }
        return size * n;
}

static int stream_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
        return wsctl_interrupted ? 1 : 0;
}

int wsctl_http_stream(wsctl_ctx *ctx, const char *path, const char *last_event_id, long timeout_ms,
                      wsctl_stream_fn fn, void *opaque, wsctl_reply *reply, hd_error *err)
{
        _cleanup_free_ char *url = request_url(ctx, path);
        _cleanup_free_ char *id_header = NULL;
        stream_state st = {.fn = fn, .opaque = opaque, .other = HD_BUF_INIT};
        struct curl_slist *headers = NULL;
        char curl_err[CURL_ERROR_SIZE] = "";
        CURLcode rc;

        /* Its own handle: fn may send requests (on ctx's) meanwhile. */
        if (!ctx->http && !handle(ctx))
                return hd_error_set(err, HD_E_INTERNAL, "cannot initialize libcurl");
        st.c = curl_easy_init();
        if (!st.c)
                return hd_error_set(err, HD_E_INTERNAL, "cannot initialize libcurl");
        headers = curl_slist_append(headers, "Accept: text/event-stream");
        if (last_event_id) {
                id_header = hd_asprintf("Last-Event-ID: %s", last_event_id);
                headers = curl_slist_append(headers, id_header);
        }
        headers = common_options(ctx, st.c, url, headers, curl_err);
        curl_easy_setopt(st.c, CURLOPT_TIMEOUT_MS, timeout_ms);
        /* hostd sends a heartbeat every 15 s: silence for longer is a dead connection. */
        curl_easy_setopt(st.c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(st.c, CURLOPT_LOW_SPEED_TIME, (long)WSCTL_STREAM_SILENCE_S);
        curl_easy_setopt(st.c, CURLOPT_WRITEFUNCTION, stream_write);
        curl_easy_setopt(st.c, CURLOPT_WRITEDATA, &st);
        curl_easy_setopt(st.c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(st.c, CURLOPT_XFERINFOFUNCTION, stream_progress);
        rc = curl_easy_perform(st.c);
        curl_slist_free_all(headers);
        if (!st.status)
                curl_easy_getinfo(st.c, CURLINFO_RESPONSE_CODE, &st.status);
        curl_easy_cleanup(st.c);
        reply->status = st.status;
        reply->body = hd_buf_steal(&st.other);
        if (st.stopped)
                return 1;
        if (rc == CURLE_OK)
                return 0;
        if (rc == CURLE_ABORTED_BY_CALLBACK)
                return hd_error_set(err, HD_E_IO, "interrupted");
        if (rc == CURLE_OPERATION_TIMEDOUT && st.status == 200)
                return hd_error_set(err, HD_E_IO, "no word from hostd for %d s", WSCTL_STREAM_SILENCE_S);
        return transfer_error(ctx, rc, "GET", path, timeout_ms, curl_err, err);
}

void wsctl_http_close(wsctl_ctx *ctx)
{
        if (!ctx->http)
                return;
        curl_easy_cleanup(ctx->http);
        ctx->http = NULL;
        curl_global_cleanup();
}

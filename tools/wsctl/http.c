/* http.c — the one file of wsctl that uses libcurl: one HTTP request to hostd
 * over its unix socket, or, after wsctl login, over HTTPS to the server kept
 * in wsctl.conf (verified against its CA, with the API token as a bearer
 * token), with time limits, no proxy and no redirects. Everything else sees
 * wsctl_http_send. */
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

/* Why no answer came from the server. */
static int remote_error(wsctl_ctx *ctx, CURLcode rc, const char *curl_err, const char *method, const char *path,
                        long timeout_ms, hd_error *err)
{
        const char *why = *curl_err ? curl_err : curl_easy_strerror(rc);

        if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
                return hd_error_set(err, HD_E_IO, "cannot verify hostd at %s with %s: %s", ctx->conf.server,
                                    ctx->conf.ca ? ctx->conf.ca : "the system's CA certificates", why);
        if (rc == CURLE_OPERATION_TIMEDOUT)
                return hd_error_set(err, HD_E_IO, "hostd at %s did not answer %s %s within %ld s", ctx->conf.server,
                                    method, path, timeout_ms / 1000);
        return hd_error_set(err, HD_E_IO, "cannot reach hostd at %s: %s (wsctl logout, or --socket, to use the "
                                          "local socket)",
                            ctx->conf.server, why);
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
        int errnum;

        if (!c)
                return hd_error_set(err, HD_E_INTERNAL, "cannot initialize libcurl");
        if (wsctl_remote(ctx)) {
                size_t n = strlen(ctx->conf.server);
                url = hd_asprintf("%.*s%s", (int)(n && ctx->conf.server[n - 1] == '/' ? n - 1 : n), ctx->conf.server,
                                  path);
        } else {
                url = hd_asprintf("http://localhost%s", path);
        }
        headers = curl_slist_append(headers, "Accept: application/json");
        headers = curl_slist_append(headers, "Expect:");
        /* "Content-Type:" with no value stops curl sending its form default. */
        headers = curl_slist_append(headers, body ? "Content-Type: application/json" : "Content-Type:");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        if (wsctl_remote(ctx)) {
                headers = setup_remote(ctx, c, headers);
        } else {
                curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ctx->socket_path);
#if LIBCURL_VERSION_NUM >= 0x075500
                curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
#endif
        }
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "wsctl/" HOSTD_VERSION);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &data);
        if (body || strcmp(method, "POST") == 0) {
                /* A POST without a body still says Content-Length: 0. */
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
        }
        rc = curl_easy_perform(c);
        curl_slist_free_all(headers);
        if (rc != CURLE_OK && wsctl_remote(ctx))
                return remote_error(ctx, rc, curl_err, method, path, timeout_ms, err);
        if (rc == CURLE_COULDNT_CONNECT && (errnum = connect_errno(ctx->socket_path)) != 0) {
                _cleanup_free_ char *msg = wsctl_unreachable_message(ctx->socket_path, errnum);
                return hd_error_set(err, HD_E_IO, "%s", msg);
        }
        if (rc == CURLE_OPERATION_TIMEDOUT)
                return hd_error_set(err, HD_E_IO, "hostd did not answer %s %s within %ld s (on %s)", method, path,
                                    timeout_ms / 1000, ctx->socket_path);
        if (rc != CURLE_OK)
                return hd_error_set(err, HD_E_IO, "request to hostd on %s failed: %s", ctx->socket_path,
                                    *curl_err ? curl_err : curl_easy_strerror(rc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
        reply->body = hd_buf_steal(&data);
        return 0;
}

void wsctl_http_close(wsctl_ctx *ctx)
{
        if (!ctx->http)
                return;
        curl_easy_cleanup(ctx->http);
        ctx->http = NULL;
        curl_global_cleanup();
}

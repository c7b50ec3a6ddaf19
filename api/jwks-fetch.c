/* jwks-fetch.c — one HTTPS GET, for the IdP's JWKS, with OpenSSL's SSL
 * (hostd links no HTTP client library): https:// only, the certificate
 * checked against the configured CA and the host name, HTTP/1.0 (no chunked
 * bodies), no redirects, status 200 only, the response size capped and the
 * whole exchange within one deadline. Name resolution uses the system
 * resolver and is not bounded by the deadline. */
#include "api/limits.h"
#include "api/oidc.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEADERS_MAX 16384

HD_DEFINE_CLEANUP(SSL_CTX *, SSL_CTX_free)
HD_DEFINE_CLEANUP(SSL *, SSL_free)

typedef struct url {
        char host[256];
        char port[6];
        char path[1024];
        bool host_is_ip;
} url;

static int bad_url(const char *u, const char *why, hd_error *err)
{
        return hd_error_set(err, HD_E_INVALID, "oidc_jwks_url %s: %s", u, why);
}

/* https://host[:port][/path]: no user info, a DNS name, an IPv4 address or
 * an [IPv6] one, a path of printable characters (nothing that could end the
 * request line or start a header). */
static int parse_url(const char *u, url *out, hd_error *err)
{
        const char *p = u, *host, *host_end, *path;
        size_t hlen;

        memset(out, 0, sizeof(*out));
        if (strncasecmp(p, "https://", 8) != 0)
                return bad_url(u, "only https:// is accepted", err);
        p += 8;
        path = p + strcspn(p, "/?#");
        if (memchr(p, '@', (size_t)(path - p)))
                return bad_url(u, "user names and passwords in the URL are refused", err);
        host = p;
        if (*p == '[') {
                host = p + 1;
                host_end = memchr(host, ']', (size_t)(path - host));
                if (!host_end)
                        return bad_url(u, "an IPv6 address needs its closing ']'", err);
                p = host_end + 1;
                out->host_is_ip = true;
        } else {
                host_end = p + strcspn(p, ":/?#");
                p = host_end;
        }
        hlen = (size_t)(host_end - host);
        if (hlen == 0 || hlen >= sizeof(out->host))
                return bad_url(u, "the host name is missing or too long", err);
        memcpy(out->host, host, hlen);
        if (strspn(out->host, out->host_is_ip ? "0123456789abcdefABCDEF:." : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != hlen)
                return bad_url(u, "the host is not a DNS name or an IP address", err);
        if (!out->host_is_ip && strspn(out->host, "0123456789.") == hlen)
                out->host_is_ip = true;
        snprintf(out->port, sizeof(out->port), "443");
        if (*p == ':') {
                size_t n = (size_t)(path - p - 1);
                char *end;
                unsigned long port;
                if (n == 0 || n > 5 || strspn(p + 1, "0123456789") != n)
                        return bad_url(u, "the port is not a number", err);
                port = strtoul(p + 1, &end, 10);
                if (port == 0 || port > 65535)
                        return bad_url(u, "the port is out of range", err);
                snprintf(out->port, sizeof(out->port), "%lu", port);
        } else if (p != path) {
                return bad_url(u, "unexpected characters after the host", err);
        }
        if (*path == '?')
                out->path[0] = '/';
        for (const char *c = path; *c && *c != '#'; c++) {
                size_t at = strlen(out->path);
                if (!isgraph((unsigned char)*c))
                        return bad_url(u, "the path has spaces or control characters", err);
                if (at + 1 >= sizeof(out->path))
                        return bad_url(u, "the path is too long", err);
                out->path[at] = *c;
        }
        if (!out->path[0])
                out->path[0] = '/';
        return 0;
}


/* Wait until fd is ready for what OpenSSL (or connect) asked, or the deadline. */
static int wait_fd(int fd, short events, long long deadline, const char *what, hd_error *err)
{
        struct pollfd pfd = {.fd = fd, .events = events};
        long long left = deadline - (long long)api_now_ms();
        int r;

        do
                r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        while (r < 0 && errno == EINTR && (left = deadline - (long long)api_now_ms()) > 0);
        if (r == 0)
                return hd_error_set(err, HD_E_IO, "timed out while %s", what);
        if (r < 0)
                return hd_error_errno(err, HD_E_IO, errno, "poll while %s", what);
        return 0;
}

static int connect_any(const url *u, long long deadline, hd_error *err)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
        int r = getaddrinfo(u->host, u->port, &hints, &res), last = 0;

        if (r != 0)
                return hd_error_set(err, HD_E_IO, "cannot resolve %s: %s", u->host, gai_strerror(r));
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                socklen_t len = sizeof(last);
                if (fd < 0) {
                        last = errno;
                        continue;
                }
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                        last = 0;
                else if (errno != EINPROGRESS)
                        last = errno;
                else if (wait_fd(fd, POLLOUT, deadline, "connecting", NULL) < 0)
                        last = ETIMEDOUT;
                else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &last, &len) < 0)
                        last = errno;
                if (last == 0) {
                        freeaddrinfo(res);
                        return fd;
                }
                close(fd);
        }
        freeaddrinfo(res);
        return hd_error_errno(err, HD_E_IO, last ? last : ETIMEDOUT, "cannot connect to %s port %s", u->host, u->port);
}

/* Drive one OpenSSL call on a non-blocking socket until it is done. */
static int ssl_io(SSL *ssl, int fd, int r, long long deadline, const char *what, hd_error *err)
{
        int e = SSL_get_error(ssl, r);

        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, what, err) < 0 ? -1 : 1;
        if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
        if (e == SSL_ERROR_SSL && SSL_get_verify_result(ssl) != X509_V_OK) {
                long v = SSL_get_verify_result(ssl);
                ERR_clear_error();
                return hd_error_set(err, HD_E_IO, "the IdP's certificate is not trusted: %s (check oidc_ca_file "
                                                  "and the URL's host name)", X509_verify_cert_error_string(v));
        }
        hd_error_set(err, HD_E_IO, "TLS error while %s: %s", what,
                     ERR_peek_last_error() ? ERR_reason_error_string(ERR_peek_last_error()) : "connection closed");
        ERR_clear_error();
        return -1;
}

static SSL_CTX *client_ctx(const char *ca_file, hd_error *err)
{
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

        if (!ctx)
                return hd_error_set(err, HD_E_INTERNAL, "cannot create a TLS context"), NULL;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF); /* Content-Length or JSON catch a cut body */
        if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
                    : SSL_CTX_set_default_verify_paths(ctx) != 1) {
                ERR_clear_error();
                return hd_error_set(err, HD_E_IO, "cannot load CA certificates from %s (oidc_ca_file)",
                                    ca_file ? ca_file : "the system's store"), NULL;
        }
        return steal_ptr(ctx);
}

/* The TLS exchange: handshake, request, read to the end (or the cap). */
static int exchange(const url *u, const char *ca_file, int fd, long long deadline, size_t cap, hd_buf *resp,
                    hd_error *err)
{
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = client_ctx(ca_file, err);
        _cleanup_(SSL_freep) SSL *ssl = NULL;
        _cleanup_free_ char *req = NULL;
        size_t sent = 0;
        char buf[8192];
        int r;

        if (!ctx || !(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1)
                return ctx ? hd_error_set(err, HD_E_INTERNAL, "cannot set up TLS") : -1;
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (u->host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host) != 1
                          : SSL_set_tlsext_host_name(ssl, u->host) != 1 || SSL_set1_host(ssl, u->host) != 1)
                return hd_error_set(err, HD_E_INTERNAL, "cannot set the host name to verify");
        while ((r = SSL_connect(ssl)) != 1)
                if (ssl_io(ssl, fd, r, deadline, "in the TLS handshake", err) <= 0)
                        return -1;
        req = hd_asprintf("GET %s HTTP/1.0\r\nHost: %s%s%s%s%s\r\nAccept: application/json\r\n"
                          "User-Agent: hostd\r\nConnection: close\r\n\r\n",
                          u->path, strchr(u->host, ':') ? "[" : "", u->host, strchr(u->host, ':') ? "]" : "",
                          strcmp(u->port, "443") ? ":" : "", strcmp(u->port, "443") ? u->port : "");
        while (sent < strlen(req)) {
                r = SSL_write(ssl, req + sent, (int)(strlen(req) - sent));
                if (r > 0)
                        sent += (size_t)r;
                else if (ssl_io(ssl, fd, r, deadline, "sending the request", err) <= 0)
                        return -1;
        }
        for (;;) {
                r = SSL_read(ssl, buf, sizeof(buf));
                if (r > 0) {
                        if (resp->len + (size_t)r > cap)
                                return hd_error_set(err, HD_E_TOO_LARGE, "the response is larger than %zu bytes",
                                                    cap - HEADERS_MAX);
                        hd_buf_append_len(resp, buf, (size_t)r);
                        continue;
                }
                r = ssl_io(ssl, fd, r, deadline, "reading the response", err);
                if (r < 0)
                        return -1;
                if (r == 0)
                        return 0;
        }
}

/* The value of a header in the head (the text before the empty line), or NULL. */
static const char *header_value(const char *head, const char *name, char *out, size_t size)
{
        size_t n = strlen(name);

        for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
                const char *v = l + 2;
                if (strncasecmp(v, name, n) == 0 && v[n] == ':') {
                        v += n + 1;
                        v += strspn(v, " \t");
                        snprintf(out, size, "%.*s", (int)strcspn(v, "\r\n"), v);
                        return out;
                }
        }
        return NULL;
}

static int parse_response(hd_buf *resp, char **body, size_t *len, hd_error *err)
{
        char *end = resp->data ? strstr(resp->data, "\r\n\r\n") : NULL;
        char value[512];
        unsigned status = 0;
        size_t blen;

        if (resp->len == 0)
                return hd_error_set(err, HD_E_IO, "the server closed the connection without an answer");
        if (!end || sscanf(resp->data, "HTTP/1.%*1[01] %3u", &status) != 1)
                return hd_error_set(err, HD_E_IO, "the answer is not HTTP");
        end[2] = '\0';
        if (status >= 300 && status < 400)
                return hd_error_set(err, HD_E_IO, "HTTP %u, and redirects are not followed: set oidc_jwks_url to "
                                                  "the final address (%.200s)", status,
                                    header_value(resp->data, "Location", value, sizeof(value)) ?: "no Location");
        if (status != 200)
                return hd_error_set(err, HD_E_IO, "HTTP %u", status);
        if (header_value(resp->data, "Transfer-Encoding", value, sizeof(value)))
                return hd_error_set(err, HD_E_IO, "a Transfer-Encoding came back to an HTTP/1.0 request");
        blen = resp->len - (size_t)(end + 4 - resp->data);
        if (header_value(resp->data, "Content-Length", value, sizeof(value)) &&
            (strspn(value, "0123456789") != strlen(value) || strtoull(value, NULL, 10) != blen))
                return hd_error_set(err, HD_E_IO, "the body is not as long as its Content-Length");
        *body = hd_malloc0(blen + 1);
        memcpy(*body, end + 4, blen);
        *len = blen;
        return 0;
}

int api_https_url_check(const char *u, hd_error *err)
{
        url parsed;
        return parse_url(u, &parsed, err);
}

int api_https_get(const char *u, const char *ca_file, unsigned timeout_s, size_t max, char **body, size_t *len,
                  hd_error *err)
{
        long long deadline = (long long)api_now_ms() + (long long)timeout_s * 1000;
        _cleanup_buf_ hd_buf resp = HD_BUF_INIT;
        _cleanup_close_ int fd = -1;
        url parsed;

        if (parse_url(u, &parsed, err) < 0)
                return -1;
        fd = connect_any(&parsed, deadline, err);
        if (fd < 0)
                return -1;
        if (exchange(&parsed, ca_file, fd, deadline, max + HEADERS_MAX, &resp, err) < 0 ||
            parse_response(&resp, body, len, err) < 0)
                return hd_error_prefix(err, "fetching %s", u);
        return 0;
}

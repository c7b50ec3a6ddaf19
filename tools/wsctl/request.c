/* request.c — what wsctl makes of hostd's answers: JSON bodies, error
 * messages, exit codes, escaped paths, and why the socket could not be reached. */
#include "tools/wsctl/wsctl.h"

#include <errno.h>
#include <string.h>

void wsctl_reply_clear(wsctl_reply *r)
{
        free(r->body);
        if (r->json)
                json_decref(r->json);
        *r = (wsctl_reply)WSCTL_REPLY_INIT;
}

char *wsctl_unreachable_message(const char *socket_path, int errnum)
{
        switch (errnum) {
        case ENOENT:
                return hd_asprintf("cannot reach hostd: %s does not exist (is hostd running? "
                                   "--socket or HOSTD_SOCKET choose another socket)",
                                   socket_path);
        case EACCES:
        case EPERM:
                return hd_asprintf("cannot reach hostd: permission denied on %s (are you in group hostd? "
                                   "after usermod -aG hostd, log in again)",
                                   socket_path);
        case ECONNREFUSED:
                return hd_asprintf("cannot reach hostd: nothing listens on %s (is hostd running?)", socket_path);
        case ENOTSOCK:
                return hd_asprintf("cannot reach hostd: %s is not a socket", socket_path);
        case ENAMETOOLONG:
                return hd_asprintf("cannot reach hostd: socket path %s is too long", socket_path);
        default:
                return hd_asprintf("cannot reach hostd on %s: %s", socket_path, strerror(errnum));
        }
}

bool wsctl_remote(const wsctl_ctx *ctx)
{
        return ctx->conf.server && !ctx->socket_explicit;
}

int wsctl_request(wsctl_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms,
                  wsctl_reply *reply, hd_error *err)
{
        _cleanup_free_ char *text = NULL;

        wsctl_reply_clear(reply);
        if (body)
                text = json_dumps(body, JSON_COMPACT);
        if (wsctl_http_send(ctx, method, path, text, timeout_ms, reply, err) < 0)
                return -1;
        if (reply->body && *reply->body)
                reply->json = json_loads(reply->body, 0, NULL);
        return 0;
}

int wsctl_exit_for_status(long status, bool state_change)
{
        if (status >= 200 && status < 300)
                return WSCTL_EXIT_OK;
        if (status == 409 && state_change)
                return WSCTL_EXIT_STATE;
        return WSCTL_EXIT_ERROR;
}

char *wsctl_error_message(const wsctl_reply *r)
{
        json_t *msg = json_object_get(json_object_get(r->json, "error"), "message");
        json_t *details = json_object_get(json_object_get(r->json, "error"), "details");
        const char *body = r->body ? r->body : "";
        size_t n = strcspn(body, "\r\n");

        if (json_is_string(msg)) {
                hd_buf b = HD_BUF_INIT;
                size_t i;
                json_t *d;

                /* Every error of a refused template, one per line. */
                hd_buf_append(&b, json_string_value(msg));
                json_array_foreach(details, i, d)
                        hd_buf_appendf(&b, "\n  %s: %s", wsctl_str(d, "path", "?"), wsctl_str(d, "reason", "?"));
                return hd_buf_steal(&b);
        }
        if (n == 0)
                return hd_asprintf("hostd answered HTTP %ld", r->status);
        return hd_asprintf("hostd answered HTTP %ld: %.*s", r->status, (int)(n > 200 ? 200 : n), body);
}

int wsctl_call(wsctl_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms,
               bool state_change, wsctl_reply *reply)
{
        _cleanup_free_ char *msg = NULL;
        hd_error err = {0};
        int rc;

        if (wsctl_request(ctx, method, path, body, timeout_ms, reply, &err) < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_UNREACHABLE, "%s", err.message);
        rc = wsctl_exit_for_status(reply->status, state_change);
        if (rc == WSCTL_EXIT_OK)
                return rc;
        msg = wsctl_error_message(reply);
        return wsctl_fail(ctx, rc, "%s", msg);
}

char *wsctl_escape(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        hd_buf b = HD_BUF_INIT;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p)) {
                        hd_buf_append_len(&b, (const char *)p, 1);
                } else {
                        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
                        hd_buf_append_len(&b, e, 3);
                }
        }
        return hd_buf_steal(&b);
}

char *wsctl_path(const char *collection, const char *name, const char *suffix)
{
        _cleanup_free_ char *e = wsctl_escape(name);

        return hd_asprintf("/v1/%s/%s%s", collection, e, suffix);
}

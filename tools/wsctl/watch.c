/* watch.c — wsctl watch [NAME]: hostd's workspace events as they happen, one
 * line each (time, workspace, state, what happened), or hostd's JSON with
 * --json, until ^C. A lost connection (hostd restarting, say) is reopened
 * with Last-Event-ID, so each event is printed once. */
#include "tools/wsctl/wsctl.h"

#include <string.h>

#define BACKOFF_MAX_MS 5000

volatile sig_atomic_t wsctl_interrupted;

typedef struct watcher {
        wsctl_ctx *ctx;
        wsctl_sse sse;
        bool got_bytes; /* on this connection */
        bool resync;    /* hostd said this connection fell behind */
} watcher;

static void on_signal(int sig)
{
        wsctl_interrupted = 1;
}

static void catch_signals(void)
{
        struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: waits end */

        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

/* "2026-01-01T10:00:00Z  dev  failed  creating the disk: …" */
static void print_line(wsctl_ctx *ctx, const char *kind, json_t *ev)
{
        const char *reason = wsctl_str(ev, "reason", NULL);

        fprintf(ctx->out, "%s  %s  %s", wsctl_str(ev, "time", "-"), wsctl_str(ev, "name", "-"),
                wsctl_str(ev, "state", "-"));
        if (strcmp(kind, "state") != 0)
                fprintf(ctx->out, "  %s%s%s", kind, reason ? ": " : "", reason ? reason : "");
        else if (reason)
                fprintf(ctx->out, "  %s", reason);
        fputc('\n', ctx->out);
}

static int print_event(void *opaque, const char *event, const char *id, const char *data)
{
        watcher *w = opaque;
        _cleanup_(json_decrefp) json_t *ev = NULL;

        if (strcmp(event, "resync") == 0) {
                w->resync = true; /* hostd ends the stream; the reconnect catches up */
                return 0;
        }
        if (w->ctx->json) {
                fprintf(w->ctx->out, "%s\n", data);
        } else {
                ev = json_loads(data, 0, NULL);
                if (ev)
                        print_line(w->ctx, event, ev);
        }
        fflush(w->ctx->out);
        return 0;
}

static int watch_data(void *opaque, const char *data, size_t len)
{
        watcher *w = opaque;

        w->got_bytes = true;
        return wsctl_sse_feed(&w->sse, data, len, print_event, w);
}

static int watch(wsctl_ctx *ctx, const char *path, const char *since)
{
        watcher w = {.ctx = ctx, .sse = WSCTL_SSE_INIT};
        bool ever = false, lost = false;
        unsigned backoff = ctx->poll_ms;
        int rc = WSCTL_EXIT_OK;

        if (since)
                snprintf(w.sse.last_id, sizeof(w.sse.last_id), "%s", since);
        while (!wsctl_interrupted) {
                _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
                hd_error err = {0};
                int got;

                w.got_bytes = w.resync = false;
                wsctl_sse_restart(&w.sse);
                got = wsctl_http_stream(ctx, path, w.sse.last_id[0] ? w.sse.last_id : NULL, 0, watch_data, &w, &r, &err);
                if (wsctl_interrupted)
                        break;
                if (got == 0 && r.status != 200 && r.status != 503) {
                        _cleanup_free_ char *msg = wsctl_error_message(&r);
                        rc = wsctl_fail(ctx, wsctl_exit_for_status(r.status, false), "%s", msg);
                        break;
                }
                if (!ever && !w.got_bytes && got < 0) {
                        rc = wsctl_fail(ctx, WSCTL_EXIT_UNREACHABLE, "%s", err.message);
                        break;
                }
                if (w.got_bytes) {
                        ever = true;
                        backoff = ctx->poll_ms;
                        if (lost)
                                fprintf(ctx->err, "wsctl: reconnected to hostd\n");
                        lost = false;
                }
                if (w.resync)
                        continue; /* fell behind: catch up from the last event at once */
                if (!lost)
                        fprintf(ctx->err, "wsctl: lost hostd (%s); reconnecting\n",
                                got < 0 ? err.message : r.status == 503 ? "no free event stream" : "it ended the stream");
                lost = true;
                fflush(ctx->err);
                wsctl_sleep_ms(backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        wsctl_sse_clear(&w.sse);
        return rc;
}

int wsctl_cmd_watch(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {{"since", required_argument, NULL, 's'}, WSCTL_COMMON_OPTIONS};
        _cleanup_free_ char *path = NULL;
        const char *since = NULL;
        int c, rc;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                since = optarg;
                if (!*since || strlen(since) > 18 || strspn(since, "0123456789") != strlen(since))
                        return wsctl_usage_error(ctx, cmd, "watch: --since %s: give an event id (a whole number)",
                                                 since);
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 1)) != 0)
                return rc;
        if (optind < argc) {
                _cleanup_free_ char *e = wsctl_escape(argv[optind]);
                path = hd_asprintf("/v1/events?workspace=%s", e);
        } else {
                path = hd_strdup("/v1/events");
        }
        wsctl_interrupted = 0;
        catch_signals();
        return watch(ctx, path, since);
}

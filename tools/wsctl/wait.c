/* wait.c — --wait: follow a workspace and print each state change as it
 * happens, with the seconds since the command started, until it reaches the
 * goal, fails, disappears or the timeout passes.
 *
 * It follows hostd's event stream (GET /v1/events?workspace=…): subscribed
 * first, then one GET for the state now, then each event as it comes; a
 * dropped stream is reopened with Last-Event-ID, so no change is missed. A
 * hostd without the stream (an older one: 404), one with every stream slot
 * taken (503), or a stream that cannot be kept: it polls every
 * ctx->poll_ms instead. */
#include "tools/wsctl/wsctl.h"

#include <errno.h>
#include <string.h>

#define MAX_POLL_FAILURES 5  /* consecutive unanswered polls: hostd restarting is fine, gone is not */
#define MAX_STREAM_DROPS 5   /* streams lost in a row before polling instead */
#define NOT_DONE (-1)
#define USE_POLLING (-2)

typedef struct waiter {
        wsctl_ctx *ctx;
        const char *name;
        wsctl_goal goal;
        double started;
        uint64_t timeout_s;
        json_t **last;
        char *prev;        /* the state printed last */
        int failures;      /* polls unanswered in a row */
        /* the stream's: */
        wsctl_sse sse;
        bool got_bytes;    /* on this connection */
        int rc;            /* NOT_DONE, or the exit code decided in a callback */
} waiter;

double wsctl_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void wsctl_sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

        while (!wsctl_interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static const char *goal_state(wsctl_goal goal)
{
        switch (goal) {
        case WSCTL_UNTIL_READY:
                return "ready";
        case WSCTL_UNTIL_STOPPED:
                return "stopped";
        case WSCTL_UNTIL_GONE:
                return "deleted";
        }
        return "?";
}

/* In the largest unit that divides it: 90 -> "90s", 1200 -> "20m". */
static void format_duration(uint64_t s, char *buf, size_t len)
{
        if (s >= 3600 && s % 3600 == 0)
                snprintf(buf, len, "%lluh", (unsigned long long)(s / 3600));
        else if (s >= 60 && s % 60 == 0)
                snprintf(buf, len, "%llum", (unsigned long long)(s / 60));
        else
                snprintf(buf, len, "%llus", (unsigned long long)s);
}

static void progress(waiter *w, const char *state)
{
        /* With --json, stdout carries only JSON: the progress goes to stderr. */
        FILE *f = w->ctx->json ? w->ctx->err : w->ctx->out;

        if (w->prev && strcmp(w->prev, state) == 0)
                return;
        fprintf(f, "%5.1fs %s\n", wsctl_now() - w->started, state);
        fflush(f);
        free(w->prev);
        w->prev = hd_strdup(state);
}

static bool past_deadline(const waiter *w)
{
        return wsctl_now() - w->started >= (double)w->timeout_s;
}

static int timed_out(waiter *w)
{
        char limit[32];

        format_duration(w->timeout_s, limit, sizeof(limit));
        return wsctl_fail(w->ctx, WSCTL_EXIT_TIMEOUT, "timed out after %s waiting for workspace %s to be %s (it is %s)",
                          limit, w->name, goal_state(w->goal), w->prev ? w->prev : "unknown");
}

/* A state seen, from a poll (ws: the workspace) or an event (ws NULL):
 * print it when it is new; the exit code when it ends the wait. */
static int observe(waiter *w, const char *state, const char *reason, json_t *ws)
{
        progress(w, state);
        if (strcmp(state, goal_state(w->goal)) == 0) {
                if (w->last && ws)
                        *w->last = json_incref(ws);
                return WSCTL_EXIT_OK;
        }
        if (strcmp(state, "failed") == 0)
                return wsctl_fail(w->ctx, WSCTL_EXIT_STATE, "workspace %s failed: %s", w->name,
                                  reason ? reason : "no reason given");
        if (w->goal != WSCTL_UNTIL_GONE && (strcmp(state, "deleting") == 0 || strcmp(state, "deleted") == 0))
                return wsctl_fail(w->ctx, WSCTL_EXIT_STATE, "workspace %s is being deleted", w->name);
        return NOT_DONE;
}

/* One GET of the workspace: the exit code when it ends the wait, else NOT_DONE. */
static int poll_once(waiter *w)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = wsctl_path("workspaces", w->name, "");
        hd_error err = {0};

        if (wsctl_request(w->ctx, "GET", path, NULL, WSCTL_POLL_TIMEOUT_MS, &r, &err) < 0) {
                if (++w->failures >= MAX_POLL_FAILURES)
                        return wsctl_fail(w->ctx, WSCTL_EXIT_UNREACHABLE, "%s", err.message);
                return NOT_DONE;
        }
        w->failures = 0;
        if (r.status == 404) {
                if (w->goal == WSCTL_UNTIL_GONE) {
                        progress(w, "deleted");
                        return WSCTL_EXIT_OK;
                }
                return wsctl_fail(w->ctx, WSCTL_EXIT_STATE, "workspace %s was deleted while waiting", w->name);
        }
        if (r.status < 200 || r.status >= 300) {
                _cleanup_free_ char *msg = wsctl_error_message(&r);
                return wsctl_fail(w->ctx, WSCTL_EXIT_ERROR, "%s", msg);
        }
        return observe(w, wsctl_str(r.json, "state", "unknown"), wsctl_str(r.json, "reason", NULL), r.json);
}

static int wait_polling(waiter *w)
{
        for (;;) {
                int rc = poll_once(w);

                if (rc != NOT_DONE)
                        return rc;
                if (past_deadline(w))
                        return timed_out(w);
                wsctl_sleep_ms(w->ctx->poll_ms);
        }
}

/* ---- following the event stream ---------------------------------------------------- */

static int on_event(void *opaque, const char *event, const char *id, const char *data)
{
        waiter *w = opaque;
        _cleanup_(json_decrefp) json_t *ev = json_loads(data, 0, NULL);
        const char *state = wsctl_str(ev, "state", NULL);
        int rc;

        if (strcmp(event, "resync") == 0 || !state)
                return 0; /* hostd ends the stream; the reconnect catches up */
        rc = observe(w, state, wsctl_str(ev, "reason", NULL), NULL);
        if (rc == NOT_DONE)
                return 0;
        /* The goal, from an event: the workspace itself for the caller. */
        if (rc == WSCTL_EXIT_OK && w->last && w->goal != WSCTL_UNTIL_GONE) {
                _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
                _cleanup_free_ char *path = wsctl_path("workspaces", w->name, "");
                if (wsctl_request(w->ctx, "GET", path, NULL, WSCTL_POLL_TIMEOUT_MS, &r, NULL) == 0 &&
                    r.status == 200)
                        *w->last = json_incref(r.json);
        }
        w->rc = rc;
        return 1;
}

static int on_stream_data(void *opaque, const char *data, size_t len)
{
        waiter *w = opaque;

        /* The first bytes: subscribed. Unless a reconnect replays from the
         * last event, the state now is the start. */
        if (!w->got_bytes) {
                w->got_bytes = true;
                if (!w->sse.last_id[0] && (w->rc = poll_once(w)) != NOT_DONE)
                        return 1;
        }
        return wsctl_sse_feed(&w->sse, data, len, on_event, w);
}

static int wait_stream(waiter *w, const char *ref)
{
        _cleanup_free_ char *escaped = wsctl_escape(ref);
        _cleanup_free_ char *path = hd_asprintf("/v1/events?workspace=%s", escaped);
        bool ever = false;
        int drops = 0;

        for (;;) {
                _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
                double left = (double)w->timeout_s - (wsctl_now() - w->started);
                hd_error err = {0};
                int got;

                if (left <= 0)
                        return timed_out(w);
                w->got_bytes = false;
                w->rc = NOT_DONE;
                wsctl_sse_restart(&w->sse);
                got = wsctl_http_stream(w->ctx, path, w->sse.last_id[0] ? w->sse.last_id : NULL,
                                        (long)(left * 1000) + 1, on_stream_data, w, &r, &err);
                if (w->rc != NOT_DONE)
                        return w->rc;
                if (got == 0 && r.status != 200)
                        return USE_POLLING;
                if (past_deadline(w))
                        return timed_out(w);
                ever |= w->got_bytes;
                drops = w->got_bytes ? 1 : drops + 1;
                if (!ever || drops > MAX_STREAM_DROPS)
                        return USE_POLLING;
                wsctl_sleep_ms(w->ctx->poll_ms);
        }
}

int wsctl_wait(wsctl_ctx *ctx, const char *name, const char *id, wsctl_goal goal, const char *first_state,
               double started, uint64_t timeout_s, json_t **last)
{
        waiter w = {.ctx = ctx, .name = name, .goal = goal, .started = started, .timeout_s = timeout_s,
                    .last = last, .sse = WSCTL_SSE_INIT, .rc = NOT_DONE};
        int rc;

        if (first_state)
                progress(&w, first_state);
        rc = wait_stream(&w, id ? id : name);
        if (rc == USE_POLLING)
                rc = wait_polling(&w);
        free(w.prev);
        wsctl_sse_clear(&w.sse);
        return rc;
}

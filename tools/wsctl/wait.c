/* wait.c — --wait: poll a workspace and print each state change as it
 * happens, with the seconds since the command started, until it reaches the
 * goal, fails, disappears or the timeout passes. (Polling every second until
 * hostd's event stream exists.) */
#include "tools/wsctl/wsctl.h"

#include <errno.h>
#include <string.h>

#define MAX_POLL_FAILURES 5 /* consecutive unanswered polls: hostd restarting is fine, gone is not */

double wsctl_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
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

static void progress(wsctl_ctx *ctx, double started, const char *state)
{
        /* With --json, stdout carries only JSON: the progress goes to stderr. */
        FILE *f = ctx->json ? ctx->err : ctx->out;

        fprintf(f, "%5.1fs %s\n", wsctl_now() - started, state);
        fflush(f);
}

int wsctl_wait(wsctl_ctx *ctx, const char *name, wsctl_goal goal, const char *first_state, double started,
               uint64_t timeout_s, json_t **last)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = wsctl_path("workspaces", name, "");
        _cleanup_free_ char *prev = NULL;
        hd_error err = {0};
        int failures = 0;

        if (first_state) {
                progress(ctx, started, first_state);
                prev = hd_strdup(first_state);
        }
        for (;;) {
                if (wsctl_request(ctx, "GET", path, NULL, WSCTL_POLL_TIMEOUT_MS, &r, &err) < 0) {
                        if (++failures >= MAX_POLL_FAILURES)
                                return wsctl_fail(ctx, WSCTL_EXIT_UNREACHABLE, "%s", err.message);
                } else if (r.status == 404) {
                        if (goal == WSCTL_UNTIL_GONE) {
                                if (!prev || strcmp(prev, "deleted") != 0)
                                        progress(ctx, started, "deleted");
                                return WSCTL_EXIT_OK;
                        }
                        return wsctl_fail(ctx, WSCTL_EXIT_STATE, "workspace %s was deleted while waiting", name);
                } else if (r.status < 200 || r.status >= 300) {
                        _cleanup_free_ char *msg = wsctl_error_message(&r);
                        return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", msg);
                } else {
                        const char *state = wsctl_str(r.json, "state", "unknown");

                        failures = 0;
                        if (!prev || strcmp(prev, state) != 0) {
                                progress(ctx, started, state);
                                free(prev);
                                prev = hd_strdup(state);
                        }
                        if (strcmp(state, goal_state(goal)) == 0) {
                                if (last)
                                        *last = json_incref(r.json);
                                return WSCTL_EXIT_OK;
                        }
                        if (strcmp(state, "failed") == 0)
                                return wsctl_fail(ctx, WSCTL_EXIT_STATE, "workspace %s failed: %s", name,
                                                  wsctl_str(r.json, "reason", "no reason given"));
                        if (goal != WSCTL_UNTIL_GONE && (strcmp(state, "deleting") == 0 || strcmp(state, "deleted") == 0))
                                return wsctl_fail(ctx, WSCTL_EXIT_STATE, "workspace %s is being deleted", name);
                }
                if (wsctl_now() - started >= (double)timeout_s) {
                        char limit[32];
                        format_duration(timeout_s, limit, sizeof(limit));
                        return wsctl_fail(ctx, WSCTL_EXIT_TIMEOUT,
                                          "timed out after %s waiting for workspace %s to be %s (it is %s)", limit,
                                          name, goal_state(goal), prev ? prev : "unknown");
                }
                sleep_ms(ctx->poll_ms);
        }
}

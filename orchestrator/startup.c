/* startup.c — a template's startup script as hostd sees it: the pending row
 * at creation, what the agent's "startup" messages say (checked, then
 * recorded: a result is final, a late "running" never replaces it), an
 * event when a result arrives, and the one-line description that the API
 * and wsctl show. Whatever the script does, the workspace's own state is not
 * touched: a failed script leaves a ready workspace ready. */
#include "orchestrator/service-internal.h"

#include "common/common.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

#define NOTE_MAX 512
#define TIME_MAX_PLAUSIBLE (1ll << 40) /* seconds since the epoch: year 36812 */

int orch_startup_setup(orch_service *svc, const orch_workspace *ws, unsigned timeout_s, hd_error *err)
{
        orch_ws_startup su = {.status = ORCH_STARTUP_PENDING, .exit_status = -1, .timeout_s = timeout_s};

        return orch_store_startup_set(svc->store, ws->id, &su, err);
}

static bool finished(orch_startup_status s)
{
        return s == ORCH_STARTUP_SUCCEEDED || s == ORCH_STARTUP_FAILED || s == ORCH_STARTUP_TIMED_OUT;
}

/* An integer member within lo..hi, else dflt (absent, null, wrong type, out of range). */
static long long int_in(json_t *msg, const char *key, long long lo, long long hi, long long dflt)
{
        json_t *v = json_object_get(msg, key);
        long long n;

        if (!json_is_integer(v))
                return dflt;
        n = json_integer_value(v);
        return n >= lo && n <= hi ? n : dflt;
}

/* The message as a row; -1 when it is not a startup report hostd can use. */
static int from_message(json_t *msg, orch_ws_startup *su)
{
        const char *status = json_string_value(json_object_get(msg, "status"));
        const char *output = json_string_value(json_object_get(msg, "output"));
        const char *note = json_string_value(json_object_get(msg, "note"));

        *su = (orch_ws_startup){.exit_status = -1};
        if (orch_startup_status_from_name(status, &su->status, NULL) < 0 || su->status == ORCH_STARTUP_PENDING)
                return -1;
        su->started_at = int_in(msg, "started_at", 1, TIME_MAX_PLAUSIBLE, 0);
        su->finished_at = int_in(msg, "finished_at", 1, TIME_MAX_PLAUSIBLE, 0);
        su->exit_status = (int)int_in(msg, "exit_status", 0, 255, -1);
        su->signal = (int)int_in(msg, "signal", 1, 64, 0);
        su->timeout_s = (unsigned)int_in(msg, "timeout_s", 0, 7 * 24 * 3600, 0);
        if (finished(su->status)) {
                su->output = hd_strdup(output ? output : "");
                su->output_bytes = (uint64_t)int_in(msg, "output_bytes", 0, INT64_MAX, (long long)strlen(su->output));
                su->output_truncated = json_is_true(json_object_get(msg, "output_truncated"));
        }
        if (note && *note) {
                su->note = hd_malloc0(NOTE_MAX);
                snprintf(su->note, NOTE_MAX, "%s", note);
                for (char *c = su->note; *c; c++)
                        if ((unsigned char)*c < 0x20 || *c == 0x7f)
                                *c = '?';
        }
        return 0;
}

void orch_startup_on_report(orch_service *svc, const char *id, json_t *msg, char *said, size_t said_len)
{
        _cleanup_(orch_ws_startup_clear) orch_ws_startup got = {0}, have = {0};
        char text[640];

        said[0] = '\0';
        if (from_message(msg, &got) < 0 || orch_store_startup_get(svc->store, id, false, &have, NULL) < 0)
                return;
        /* A result is final; a "running" sent late (a reconnect) never replaces it. */
        if (finished(have.status) && !finished(got.status))
                return;
        if (orch_store_startup_set(svc->store, id, &got, NULL) < 0)
                return;
        if (finished(got.status) && (!finished(have.status) || have.finished_at != got.finished_at)) {
                orch_startup_describe(&got, got.finished_at, text, sizeof(text));
                orch_store_event_add(svc->store, id, "startup", text, NULL, NULL);
                snprintf(said, said_len, "startup script %s", text);
        }
}

void orch_startup_describe(const orch_ws_startup *su, int64_t now, char *out, size_t out_len)
{
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;
        char t[48], d[32], lim[32];

        orch_policy_format_duration(su->timeout_s ? su->timeout_s : 3600, lim, sizeof(lim));
        hd_buf_append(&b, su->status == ORCH_STARTUP_TIMED_OUT ? "timed out" : orch_startup_status_name(su->status));
        switch (su->status) {
        case ORCH_STARTUP_PENDING:
                hd_buf_append(&b, ": runs once cloud-init has finished in the guest");
                break;
        case ORCH_STARTUP_RUNNING:
                orch_policy_format_time(su->started_at, now, t, sizeof(t));
                hd_buf_appendf(&b, " since %s (time limit %s)", su->started_at ? t : "?", lim);
                break;
        default:
                if (su->status == ORCH_STARTUP_TIMED_OUT)
                        hd_buf_appendf(&b, " (time limit %s)", lim);
                if (su->exit_status >= 0)
                        hd_buf_appendf(&b, " (exit %d)", su->exit_status);
                else if (su->signal > 0)
                        hd_buf_appendf(&b, " (killed by signal %d)", su->signal);
                if (su->started_at && su->finished_at >= su->started_at) {
                        orch_policy_format_duration(su->finished_at - su->started_at, d, sizeof(d));
                        hd_buf_appendf(&b, " after %s", d);
                }
                if (su->finished_at) {
                        orch_policy_format_time(su->finished_at, now, t, sizeof(t));
                        hd_buf_appendf(&b, ", at %s", t);
                }
                break;
        }
        if (su->note)
                hd_buf_appendf(&b, "; %s", su->note);
        snprintf(out, out_len, "%s", b.data);
}

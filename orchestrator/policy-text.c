/* policy-text.c — the idle and lifetime engine's words: durations and UTC
 * times for reasons, and the one-line text form of a workspace's policy
 * state that the caller persists ("v1 created=… running=… …"). */
#include "orchestrator/policy.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void orch_policy_format_duration(int64_t seconds, char *out, size_t out_len)
{
        long long s = seconds < 0 ? 0 : seconds;

        if (s < 60)
                snprintf(out, out_len, "%lld s", s);
        else if (s < 3600)
                snprintf(out, out_len, "%lld min", s / 60);
        else if (s < 86400 && s % 3600 / 60)
                snprintf(out, out_len, "%lld h %lld min", s / 3600, s % 3600 / 60);
        else if (s < 86400)
                snprintf(out, out_len, "%lld h", s / 3600);
        else if (s % 86400 / 3600)
                snprintf(out, out_len, "%lld d %lld h", s / 86400, s % 86400 / 3600);
        else
                snprintf(out, out_len, "%lld d", s / 86400);
}

void orch_policy_format_time(int64_t t, int64_t now, char *out, size_t out_len)
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (!gmtime_r(&tt, &tm)) {
                snprintf(out, out_len, "@%lld", (long long)t);
                return;
        }
        if (t / 86400 == now / 86400)
                strftime(out, out_len, "%H:%M UTC", &tm);
        else
                strftime(out, out_len, "%Y-%m-%d %H:%M UTC", &tm);
}

/* ---- persisted form ------------------------------------------------------ */

enum field_kind { F_I64, F_INT, F_DBL, F_BOOL, F_VERDICT };

static const struct field {
        const char *name;
        enum field_kind kind;
        size_t off;
} fields[] = {
        {"created", F_I64, offsetof(orch_policy_state, created_at)},
        {"running", F_I64, offsetof(orch_policy_state, running_since)},
        {"active", F_I64, offsetof(orch_policy_state, last_active)},
        {"unwitnessed", F_I64, offsetof(orch_policy_state, unwitnessed_s)},
        {"heartbeat", F_I64, offsetof(orch_policy_state, last_heartbeat_at)},
        {"verdict", F_VERDICT, offsetof(orch_policy_state, last_verdict)},
        {"extended", F_I64, offsetof(orch_policy_state, extended_until)},
        {"silent_since", F_I64, offsetof(orch_policy_state, silent_since)},
        {"flagged", F_BOOL, offsetof(orch_policy_state, silent_flagged)},
        {"warned", F_BOOL, offsetof(orch_policy_state, lifetime_warned)},
        {"at", F_I64, offsetof(orch_policy_state, last.at)},
        {"ssh", F_INT, offsetof(orch_policy_state, last.ssh_sessions)},
        {"users", F_INT, offsetof(orch_policy_state, last.users)},
        {"input_age", F_I64, offsetof(orch_policy_state, last.last_input_age_s)},
        {"load1", F_DBL, offsetof(orch_policy_state, last.load1)},
        {"vcpus", F_INT, offsetof(orch_policy_state, last.vcpus)},
        {"gpu", F_DBL, offsetof(orch_policy_state, last.gpu_util_pct)},
};

static const char *const verdict_names[] = {
        [ORCH_VERDICT_NONE] = "none",
        [ORCH_VERDICT_BUSY] = "busy",
        [ORCH_VERDICT_IDLE] = "idle",
        [ORCH_VERDICT_UNKNOWN] = "unknown",
};

char *orch_policy_state_format(const orch_policy_state *s)
{
        hd_buf b = HD_BUF_INIT;

        hd_buf_append(&b, "v1");
        for (size_t i = 0; i < HD_ARRAY_SIZE(fields); i++) {
                const void *v = (const char *)s + fields[i].off;

                hd_buf_appendf(&b, " %s=", fields[i].name);
                switch (fields[i].kind) {
                case F_I64: hd_buf_appendf(&b, "%lld", (long long)*(const int64_t *)v); break;
                case F_INT: hd_buf_appendf(&b, "%d", *(const int *)v); break;
                case F_DBL: hd_buf_appendf(&b, "%.17g", *(const double *)v); break;
                case F_BOOL: hd_buf_appendf(&b, "%d", *(const bool *)v ? 1 : 0); break;
                case F_VERDICT: {
                        unsigned vd = *(const orch_verdict *)v;
                        hd_buf_append(&b, vd < HD_ARRAY_SIZE(verdict_names) ? verdict_names[vd] : "?");
                        break;
                }
                }
        }
        return hd_buf_steal(&b);
}

/* Parse one value into the state; -1 when it is not a valid value of its kind. */
static int parse_value(const struct field *f, const char *text, orch_policy_state *s)
{
        void *v = (char *)s + f->off;
        char *end = NULL;
        long long ll;
        double d;

        errno = 0;
        switch (f->kind) {
        case F_I64:
        case F_INT:
                ll = strtoll(text, &end, 10);
                if (errno || end == text || *end)
                        return -1;
                if (f->kind == F_I64)
                        *(int64_t *)v = ll;
                else if (ll < INT_MIN || ll > INT_MAX)
                        return -1;
                else
                        *(int *)v = (int)ll;
                return 0;
        case F_DBL:
                d = strtod(text, &end);
                if (errno || end == text || *end || !isfinite(d))
                        return -1;
                *(double *)v = d;
                return 0;
        case F_BOOL:
                if (strcmp(text, "0") && strcmp(text, "1"))
                        return -1;
                *(bool *)v = text[0] == '1';
                return 0;
        case F_VERDICT:
                for (size_t i = 0; i < HD_ARRAY_SIZE(verdict_names); i++)
                        if (!strcmp(text, verdict_names[i])) {
                                *(orch_verdict *)v = (orch_verdict)i;
                                return 0;
                        }
                return -1;
        }
        return -1;
}

int orch_policy_state_parse(const char *text, orch_policy_state *s, hd_error *err)
{
        _cleanup_free_ char *copy = hd_strdup(text);
        bool seen[HD_ARRAY_SIZE(fields)] = {false};
        orch_policy_state st;
        char *save = NULL, *tok = strtok_r(copy, " ", &save);

        orch_policy_state_init(&st, 0);
        if (!tok || strcmp(tok, "v1"))
                return hd_error_set(err, HD_E_STORE,
                                    "policy state does not start with \"v1\": written by another hostd version, or damaged");
        while ((tok = strtok_r(NULL, " ", &save))) {
                char *eq = strchr(tok, '=');
                size_t i;

                if (!eq)
                        return hd_error_set(err, HD_E_STORE, "policy state: \"%.40s\" is not key=value", tok);
                *eq = '\0';
                for (i = 0; i < HD_ARRAY_SIZE(fields) && strcmp(fields[i].name, tok); i++)
                        ;
                if (i == HD_ARRAY_SIZE(fields))
                        return hd_error_set(err, HD_E_STORE, "policy state: unknown member \"%.40s\"", tok);
                if (seen[i])
                        return hd_error_set(err, HD_E_STORE, "policy state: member %s given twice", tok);
                if (parse_value(&fields[i], eq + 1, &st) < 0)
                        return hd_error_set(err, HD_E_STORE, "policy state: bad value \"%.40s\" for %s",
                                            eq + 1, tok);
                seen[i] = true;
        }
        for (size_t i = 0; i < HD_ARRAY_SIZE(fields); i++)
                if (!seen[i])
                        return hd_error_set(err, HD_E_STORE, "policy state: member %s is missing",
                                            fields[i].name);
        *s = st;
        return 0;
}

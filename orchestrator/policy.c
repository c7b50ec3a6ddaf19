/* policy.c — idle auto-stop and hard lifetimes: what counts as busy, how the
 * idle clock runs, and what to do at a given time.
 *
 * The idle clock is "now − last_active − unwitnessed": time since the last
 * known activity, less the stretches with no idle evidence (the agent was
 * silent, or a figure needed to call the workspace idle was unknown).  So a
 * silent agent neither ages a workspace towards an idle stop nor keeps it
 * alive.  Rules and their reasons: docs/idle-and-lifetimes.md. */
#include "orchestrator/policy.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <stdio.h>
#include <string.h>

#define TIME_MAX 48
#define DUR_MAX 32

void orch_policy_defaults(orch_policy *p)
{
        *p = (orch_policy){
                .idle_timeout_s = 0,
                .cpu_idle_pct = 5,
                .gpu_idle_pct = 10,
                .agent_silence_s = 60,
                .agent_boot_grace_s = 600,
                .max_extend_s = ORCH_POLICY_MAX_EXTEND_S,
                .lifetime_warning_s = 15 * 60,
                .lifetime_action = ORCH_LIFE_STOP,
        };
}

int orch_policy_check(const orch_policy *p, hd_error *err)
{
        if (!(p->cpu_idle_pct > 0 && p->cpu_idle_pct <= 100))
                return hd_error_set(err, HD_E_INVALID,
                                    "cpu_idle_pct is %g: it must be above 0 and at most 100 (percent of the vCPUs busy)",
                                    p->cpu_idle_pct);
        if (!(p->gpu_idle_pct > 0 && p->gpu_idle_pct <= 100))
                return hd_error_set(err, HD_E_INVALID,
                                    "gpu_idle_pct is %g: it must be above 0 and at most 100 (percent GPU utilisation)",
                                    p->gpu_idle_pct);
        if (p->agent_silence_s == 0)
                return hd_error_set(err, HD_E_INVALID,
                                    "agent_silence_s is 0: give the seconds without a heartbeat after which the agent counts as silent (e.g. 60)");
        if (p->lifetime_s > ORCH_POLICY_MAX_LIFETIME_S)
                return hd_error_set(err, HD_E_INVALID,
                                    "lifetime_s is %u: at most %u (366 days)", p->lifetime_s,
                                    ORCH_POLICY_MAX_LIFETIME_S);
        if (p->lifetime_action != ORCH_LIFE_STOP && p->lifetime_action != ORCH_LIFE_DELETE)
                return hd_error_set(err, HD_E_INVALID, "lifetime_action must be stop or delete");
        return 0;
}

void orch_policy_state_init(orch_policy_state *s, int64_t created_at)
{
        *s = (orch_policy_state){.created_at = created_at};
        s->last = (orch_activity){.ssh_sessions = -1, .users = -1, .last_input_age_s = -1,
                                  .load1 = -1, .vcpus = 0, .gpu_util_pct = -1};
}

/* A start counts as activity: the idle clock starts from zero. */
void orch_policy_started(orch_policy_state *s, int64_t now)
{
        int64_t created = s->created_at;
        bool warned = s->lifetime_warned;

        orch_policy_state_init(s, created);
        s->lifetime_warned = warned;
        s->running_since = now;
        s->last_active = now;
}

void orch_policy_stopped(orch_policy_state *s)
{
        int64_t created = s->created_at;
        bool warned = s->lifetime_warned;

        orch_policy_state_init(s, created);
        s->lifetime_warned = warned;
}

static unsigned boot_grace(const orch_policy *p)
{
        return p->agent_boot_grace_s > p->agent_silence_s ? p->agent_boot_grace_s
                                                          : p->agent_silence_s;
}

static double cpu_pct(const orch_activity *a)
{
        return 100.0 * a->load1 / a->vcpus;
}

static bool cpu_known(const orch_activity *a)
{
        return a->load1 >= 0 && a->vcpus > 0;
}

/* Is someone at a terminal or on SSH? Sets *busy or *unknown, and
 * *active_at to the last terminal input. */
static void classify_interaction(const orch_activity *a, bool *busy, bool *unknown,
                                 int64_t *active_at)
{
        if (a->last_input_age_s >= 0)
                *active_at = a->at - a->last_input_age_s;
        else if (a->ssh_sessions > 0)
                *busy = true;   /* SSH without a terminal: scp, rsync, IDE remote */
        else if (a->ssh_sessions < 0 || a->users != 0)
                *unknown = true;
}

/* The verdict of one heartbeat, and the last moment it shows activity (0: none). */
static orch_verdict classify(const orch_policy *p, const orch_activity *a, int64_t *active_at)
{
        bool busy = false, unknown = false;

        *active_at = 0;
        classify_interaction(a, &busy, &unknown, active_at);
        if (!cpu_known(a))
                unknown = true;
        else if (cpu_pct(a) >= p->cpu_idle_pct)
                busy = true;
        if (a->gpu_util_pct >= 0) {
                if (a->gpu_util_pct >= p->gpu_idle_pct)
                        busy = true;
        } else if (p->gpus) {
                unknown = true;
        }
        if (busy) {
                *active_at = a->at;
                return ORCH_VERDICT_BUSY;
        }
        return unknown ? ORCH_VERDICT_UNKNOWN : ORCH_VERDICT_IDLE;
}

/* Start of the interval still open at `now`, and the longest it may last
 * before the agent counts as silent. */
static int64_t open_since(const orch_policy *p, const orch_policy_state *s, unsigned *allowed)
{
        if (s->last_heartbeat_at) {
                *allowed = p->agent_silence_s;
                return s->last_heartbeat_at;
        }
        *allowed = boot_grace(p);
        return s->running_since;
}

void orch_policy_observe(const orch_policy *p, orch_policy_state *s, const orch_activity *a)
{
        unsigned allowed;
        int64_t prev, t, gap, active_at;
        bool unwitnessed;
        orch_verdict v;

        if (!s->running_since)
                return;
        prev = open_since(p, s, &allowed);
        t = a->at < prev ? prev : a->at;        /* the clock stepped back: no negative gap */
        gap = t - prev;
        unwitnessed = gap > (int64_t)allowed || s->last_verdict == ORCH_VERDICT_UNKNOWN;
        v = classify(p, a, &active_at);
        if (active_at > t)
                active_at = t;
        if (active_at > s->last_active) {
                /* Only the part of this gap after the new activity stays uncounted. */
                s->unwitnessed_s = unwitnessed ? t - (prev > active_at ? prev : active_at) : 0;
                s->last_active = active_at;
        } else if (unwitnessed) {
                s->unwitnessed_s += gap;
        }
        s->last = *a;
        s->last.at = t;
        s->last_verdict = v;
        s->last_heartbeat_at = t;
}

bool orch_policy_silent(const orch_policy *p, const orch_policy_state *s, int64_t now)
{
        unsigned allowed;
        int64_t since;

        if (!s->running_since)
                return false;
        since = open_since(p, s, &allowed);
        return now - since > (int64_t)allowed;
}

int64_t orch_policy_idle_elapsed(const orch_policy *p, const orch_policy_state *s, int64_t now)
{
        unsigned allowed;
        int64_t since, e;

        if (!s->running_since)
                return 0;
        since = open_since(p, s, &allowed);
        if (now < since)
                now = since;
        e = now - s->last_active - s->unwitnessed_s;
        if (now - since > (int64_t)allowed || s->last_verdict == ORCH_VERDICT_UNKNOWN)
                e -= now - since;
        return e < 0 ? 0 : e;
}

int64_t orch_policy_idle_deadline(const orch_policy *p, const orch_policy_state *s, int64_t now)
{
        int64_t left, d;

        if (!p->idle_timeout_s || !s->running_since)
                return 0;
        left = (int64_t)p->idle_timeout_s - orch_policy_idle_elapsed(p, s, now);
        d = now + (left > 0 ? left : 0);
        return d > s->extended_until ? d : s->extended_until;
}

int64_t orch_policy_lifetime_end(const orch_policy *p, const orch_policy_state *s)
{
        return p->lifetime_s ? s->created_at + p->lifetime_s : 0;
}

/* ---- reasons ------------------------------------------------------------- */

static void append_time(hd_buf *b, int64_t t, int64_t now)
{
        char buf[TIME_MAX];

        orch_policy_format_time(t, now, buf, sizeof(buf));
        hd_buf_append(b, buf);
}

static void append_duration(hd_buf *b, int64_t seconds)
{
        char buf[DUR_MAX];

        orch_policy_format_duration(seconds, buf, sizeof(buf));
        hd_buf_append(b, buf);
}

static void append_sessions(hd_buf *b, int n)
{
        if (n == 0)
                hd_buf_append(b, "no SSH session");
        else if (n > 0)
                hd_buf_appendf(b, "%d SSH session%s open", n, n == 1 ? "" : "s");
}

/* "no SSH session, nobody logged in, CPU 1% (< 5%), GPU 0% (< 10%)" from the
 * latest heartbeat, as seen at `now`. */
static void append_idle_figures(hd_buf *b, const orch_policy *p, const orch_activity *a,
                                int64_t now)
{
        if (a->last_input_age_s >= 0) {
                hd_buf_append(b, "no terminal input for ");
                append_duration(b, now - (a->at - a->last_input_age_s));
                if (a->ssh_sessions >= 0)
                        hd_buf_append(b, ", ");
                append_sessions(b, a->ssh_sessions);
        } else {
                append_sessions(b, a->ssh_sessions);
                hd_buf_append(b, ", nobody logged in");
        }
        if (cpu_known(a))
                hd_buf_appendf(b, ", CPU %.0f%% (< %g%%)", cpu_pct(a), p->cpu_idle_pct);
        if (a->gpu_util_pct >= 0)
                hd_buf_appendf(b, ", GPU %.0f%% (< %g%%)", a->gpu_util_pct, p->gpu_idle_pct);
}

static void append_lifetime_end(hd_buf *b, const orch_policy *p, const orch_policy_state *s,
                                int64_t now)
{
        hd_buf_append(b, "lifetime of ");
        append_duration(b, p->lifetime_s);
        hd_buf_append(b, orch_policy_lifetime_end(p, s) <= now ? " ended at " : " ends at ");
        append_time(b, orch_policy_lifetime_end(p, s), now);
}

static const char *life_verb(const orch_policy *p)
{
        return p->lifetime_action == ORCH_LIFE_DELETE ? "deleted" : "stopped";
}

static orch_policy_action lifetime_action(const orch_policy *p, const orch_policy_state *s,
                                          int64_t now, hd_buf *b)
{
        int64_t end = orch_policy_lifetime_end(p, s);

        if (!end)
                return ORCH_ACT_NONE;
        if (now >= end) {
                if (p->lifetime_action == ORCH_LIFE_STOP && !s->running_since)
                        return ORCH_ACT_NONE;
                append_lifetime_end(b, p, s, now);
                hd_buf_appendf(b, " (created ");
                append_time(b, s->created_at, now);
                hd_buf_appendf(b, "): %s", life_verb(p));
                return p->lifetime_action == ORCH_LIFE_DELETE ? ORCH_ACT_LIFETIME_DELETE
                                                              : ORCH_ACT_LIFETIME_STOP;
        }
        return ORCH_ACT_NONE;
}

static bool lifetime_warn_due(const orch_policy *p, const orch_policy_state *s, int64_t now)
{
        int64_t end = orch_policy_lifetime_end(p, s);

        if (!end || s->lifetime_warned || !p->lifetime_warning_s)
                return false;
        if (p->lifetime_action == ORCH_LIFE_STOP && !s->running_since)
                return false;
        return now >= end - (int64_t)p->lifetime_warning_s && now < end;
}

static bool idle_stop_due(const orch_policy *p, const orch_policy_state *s, int64_t now)
{
        return p->idle_timeout_s && s->running_since && s->last_verdict == ORCH_VERDICT_IDLE &&
               !orch_policy_silent(p, s, now) && now >= s->extended_until &&
               orch_policy_idle_elapsed(p, s, now) >= (int64_t)p->idle_timeout_s;
}

static void append_idle_reason(hd_buf *b, const orch_policy *p, const orch_policy_state *s,
                               int64_t now)
{
        hd_buf_append(b, "idle since ");
        append_time(b, s->last_active, now);
        hd_buf_append(b, ": ");
        append_idle_figures(b, p, &s->last, now);
        if (s->unwitnessed_s > 0) {
                hd_buf_append(b, "; not counting ");
                append_duration(b, s->unwitnessed_s);
                hd_buf_append(b, " when the agent was silent or figures were unknown");
        }
}

orch_policy_action orch_policy_decide(const orch_policy *p, orch_policy_state *s, int64_t now,
                                      char *reason, size_t reason_len)
{
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;
        orch_policy_action act = lifetime_action(p, s, now, &b);
        bool silent = orch_policy_silent(p, s, now);

        if (act != ORCH_ACT_NONE) {
                /* the lifetime beats everything: activity, silence, extension */
        } else if (silent && !s->silent_flagged) {
                s->silent_flagged = true;
                s->silent_since = s->last_heartbeat_at ? s->last_heartbeat_at : s->running_since;
                if (s->last_heartbeat_at) {
                        hd_buf_append(&b, "agent silent since ");
                        append_time(&b, s->silent_since, now);
                } else {
                        hd_buf_append(&b, "agent has not reported since the start at ");
                        append_time(&b, s->silent_since, now);
                }
                hd_buf_append(&b, " (");
                append_duration(&b, now - s->silent_since);
                hd_buf_append(&b, "): not stopped for idleness, and not counted as busy or idle, until it reports again");
                act = ORCH_ACT_FLAG_SILENT;
        } else if (s->silent_flagged && !silent) {
                s->silent_flagged = false;
                hd_buf_append(&b, "agent reporting again at ");
                append_time(&b, s->last_heartbeat_at ? s->last_heartbeat_at : now, now);
                hd_buf_append(&b, " after a silence from ");
                append_time(&b, s->silent_since, now);
                act = ORCH_ACT_UNFLAG;
        } else if (lifetime_warn_due(p, s, now)) {
                s->lifetime_warned = true;
                append_lifetime_end(&b, p, s, now);
                hd_buf_append(&b, " (in ");
                append_duration(&b, orch_policy_lifetime_end(p, s) - now);
                hd_buf_appendf(&b, "): the workspace will then be %s; it cannot be extended",
                               life_verb(p));
                act = ORCH_ACT_LIFETIME_WARN;
        } else if (idle_stop_due(p, s, now)) {
                append_idle_reason(&b, p, s, now);
                act = ORCH_ACT_IDLE_STOP;
        }
        if (reason && reason_len)
                snprintf(reason, reason_len, "%s", b.data ? b.data : "");
        return act;
}

const char *orch_policy_action_name(orch_policy_action a)
{
        static const char *const names[] = {
                [ORCH_ACT_NONE] = "none",
                [ORCH_ACT_FLAG_SILENT] = "flag-silent",
                [ORCH_ACT_UNFLAG] = "unflag",
                [ORCH_ACT_IDLE_STOP] = "idle-stop",
                [ORCH_ACT_LIFETIME_WARN] = "lifetime-warn",
                [ORCH_ACT_LIFETIME_STOP] = "lifetime-stop",
                [ORCH_ACT_LIFETIME_DELETE] = "lifetime-delete",
        };
        return (unsigned)a < HD_ARRAY_SIZE(names) ? names[a] : "?";
}

/* ---- show, extend, lifetimes --------------------------------------------- */

/* Why the last heartbeat was neither busy nor idle. */
static void append_unknown_figures(hd_buf *b, const orch_policy *p, const orch_activity *a)
{
        bool busy = false, unknown = false;
        int64_t at;

        classify_interaction(a, &busy, &unknown, &at);
        hd_buf_append(b, "idle clock paused: ");
        if (unknown)
                hd_buf_append(b, "SSH sessions or logins unknown; ");
        if (!cpu_known(a))
                hd_buf_append(b, "CPU load unknown; ");
        if (p->gpus && a->gpu_util_pct < 0)
                hd_buf_append(b, "GPU utilisation unknown (is nvidia-smi in the guest?); ");
        b->data[b->len -= 2] = '\0';
}

void orch_policy_describe(const orch_policy *p, const orch_policy_state *s, int64_t now,
                          char *out, size_t out_len)
{
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;

        if (!s->running_since)
                hd_buf_append(&b, "not running");
        else if (!p->idle_timeout_s)
                hd_buf_append(&b, "idle auto-stop off");
        else if (orch_policy_silent(p, s, now)) {
                hd_buf_append(&b, "idle clock paused: agent silent since ");
                append_time(&b, s->last_heartbeat_at ? s->last_heartbeat_at : s->running_since, now);
        } else if (s->last_verdict == ORCH_VERDICT_UNKNOWN) {
                append_unknown_figures(&b, p, &s->last);
        } else {
                hd_buf_append(&b, "idle stop at ");
                append_time(&b, orch_policy_idle_deadline(p, s, now), now);
                if (s->last_verdict == ORCH_VERDICT_BUSY)
                        hd_buf_append(&b, " at the earliest (busy now)");
                else {
                        hd_buf_append(&b, " if nothing changes (idle since ");
                        append_time(&b, s->last_active, now);
                        hd_buf_append(&b, ")");
                }
                if (s->extended_until > now) {
                        hd_buf_append(&b, ", extended until ");
                        append_time(&b, s->extended_until, now);
                }
        }
        if (orch_policy_lifetime_end(p, s)) {
                hd_buf_append(&b, "; ");
                append_lifetime_end(&b, p, s, now);
                if (orch_policy_lifetime_end(p, s) > now)
                        hd_buf_appendf(&b, ", then %s", life_verb(p));
        }
        snprintf(out, out_len, "%s", b.data);
}

int orch_policy_extend(const orch_policy *p, orch_policy_state *s, int64_t now, unsigned seconds,
                       hd_error *err)
{
        unsigned cap = p->max_extend_s ? p->max_extend_s : ORCH_POLICY_MAX_EXTEND_S;
        int64_t end = orch_policy_lifetime_end(p, s);
        char a[DUR_MAX], c[DUR_MAX], t[TIME_MAX];

        if (!s->running_since)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "the workspace is not running: there is no idle deadline to extend");
        if (!p->idle_timeout_s)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "idle auto-stop is off for this workspace's template: it is never stopped for idleness, so there is nothing to extend");
        if (seconds == 0)
                return hd_error_set(err, HD_E_INVALID, "an extension must be at least 1 second");
        orch_policy_format_duration(seconds, a, sizeof(a));
        orch_policy_format_duration(cap, c, sizeof(c));
        if (seconds > cap)
                return hd_error_set(err, HD_E_INVALID,
                                    "an extension of %s is longer than the maximum of %s: ask for %s or less",
                                    a, c, c);
        if (end && now + (int64_t)seconds > end) {
                orch_policy_format_time(end, now, t, sizeof(t));
                if (end <= now)
                        return hd_error_set(err, HD_E_CONFLICT,
                                            "the workspace's hard lifetime ended at %s: it cannot be extended",
                                            t);
                orch_policy_format_duration(end - now, c, sizeof(c));
                return hd_error_set(err, HD_E_INVALID,
                                    "an extension of %s would pass the workspace's hard lifetime, which ends at %s: ask for %s or less",
                                    a, t, c);
        }
        s->extended_until = now + seconds;
        return 0;
}

int orch_policy_may_start(const orch_policy *p, const orch_policy_state *s, int64_t now,
                          hd_error *err)
{
        int64_t end = orch_policy_lifetime_end(p, s);
        char t[TIME_MAX];

        if (!end || now < end)
                return 0;
        orch_policy_format_time(end, now, t, sizeof(t));
        return hd_error_set(err, HD_E_CONFLICT,
                            "the workspace's hard lifetime ended at %s: it cannot be started again; delete it or create a new one",
                            t);
}

int orch_policy_lifetime(unsigned requested_s, unsigned template_max_s, unsigned *effective,
                         char *note, size_t note_len, hd_error *err)
{
        char r[DUR_MAX], m[DUR_MAX];

        if (note && note_len)
                note[0] = '\0';
        orch_policy_format_duration(requested_s, r, sizeof(r));
        orch_policy_format_duration(template_max_s, m, sizeof(m));
        if (requested_s > ORCH_POLICY_MAX_LIFETIME_S)
                return hd_error_set(err, HD_E_INVALID,
                                    "a lifetime of %u seconds (%s) is longer than the 366 days hostd accepts: lifetimes are in seconds, not milliseconds",
                                    requested_s, r);
        if (requested_s == 0) {
                *effective = template_max_s;
                return 0;
        }
        if (template_max_s && requested_s > template_max_s) {
                *effective = template_max_s;
                if (note && note_len)
                        snprintf(note, note_len,
                                 "a lifetime of %s was requested; the template allows at most %s, so the workspace gets %s",
                                 r, m, m);
                return 0;
        }
        *effective = requested_s;
        return 0;
}

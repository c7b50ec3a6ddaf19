/* test-policy.c — idle auto-stop and lifetimes over simulated timelines.
 *
 * Each scenario is a policy and a list of steps at simulated times (minutes
 * after 2024-05-01 14:00 UTC, when the workspace is created and started):
 * heartbeats, "what does the engine decide now", extensions, the shown
 * deadline.  No test sleeps: the clock is the step's time.  Between steps the
 * state goes through its persisted text form, as over a hostd restart. */
#include "common/common.h"
#include "orchestrator/policy.h"
#include "tests/testlib.h"

#define T0 1714572000LL                 /* 2024-05-01 14:00:00 UTC */
#define M(min) (T0 + (int64_t)(min) * 60)
#define VCPUS 4

/* What the guest shows; input_at is the time of the last terminal input
 * (0: no terminal), turned into last_input_age_s at each heartbeat. */
typedef struct guest { int ssh, users; int64_t input_at; double load1, gpu; } guest;

#define NOBODY {0, 0, 0, 0.05, -1}           /* CPU 1 %, no GPU figure */
#define CPU_BUSY {0, 0, 0, 2.0, -1}          /* 50 % of 4 vCPUs */
#define CPU_UNKNOWN {0, 0, 0, -1, -1}
#define GPU_BUSY {0, 0, 0, 0.05, 85}
#define GPU_IDLE {0, 0, 0, 0.05, 0}
#define TERMINAL(input) {1, 1, (input), 0.05, -1} /* SSH with a tty */
#define NOTTY {1, 0, 0, 0.05, -1}            /* scp, rsync, VS Code Remote-SSH */

enum kind { HB, RUN, EXPECT, EXTEND, DEADLINE, SHOW, STOP, MAYSTART };

typedef struct step {
        enum kind kind;
        int64_t t, to;                  /* RUN: a heartbeat each minute in [t, to] */
        guest g;
        orch_policy_action want;
        unsigned secs;
        bool ok;
        int64_t when;
        const char *contains;           /* in the reason, the error or the shown line */
        const char *what;
} step;

#define HB_(t_, g_) {.kind = HB, .t = (t_), .g = g_}
/* Heartbeats each minute; after each one the engine must decide nothing. */
#define RUN_(from, to_, g_, what_) {.kind = RUN, .t = (from), .to = (to_), .g = g_, .what = (what_)}
#define EXPECT_(t_, act, text, what_) \
        {.kind = EXPECT, .t = (t_), .want = (act), .contains = (text), .what = (what_)}
#define EXTEND_(t_, s, ok_, text, what_) \
        {.kind = EXTEND, .t = (t_), .secs = (s), .ok = (ok_), .contains = (text), .what = (what_)}
#define DEADLINE_(t_, w, what_) {.kind = DEADLINE, .t = (t_), .when = (w), .what = (what_)}
#define SHOW_(t_, text, what_) {.kind = SHOW, .t = (t_), .contains = (text), .what = (what_)}
#define STOP_(t_) {.kind = STOP, .t = (t_)}
#define MAYSTART_(t_, ok_, text, what_) \
        {.kind = MAYSTART, .t = (t_), .ok = (ok_), .contains = (text), .what = (what_)}

typedef struct scenario {
        const char *name;
        unsigned idle_timeout_s, lifetime_s;
        orch_lifetime_action action;
        bool gpus;
        const step *steps;
        size_t n;
} scenario;

#define STEPS(...) .steps = (const step[]){__VA_ARGS__}, \
                   .n = sizeof((const step[]){__VA_ARGS__}) / sizeof(step)

static const scenario scenarios[] = {
{"idle stop", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 29, NOBODY, "an idle workspace is left running until its idle timeout"),
        HB_(30, NOBODY),
        DEADLINE_(30, M(30), "the shown idle deadline is start + timeout when idle since the start"),
        EXPECT_(30, ORCH_ACT_IDLE_STOP,
                "idle since 14:00 UTC: no SSH session, nobody logged in, CPU 1% (< 5%)",
                "an idle workspace is stopped at its idle timeout, with the reason in words"),
)},
{"keystroke", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 19, NOBODY, "idle before anyone logs in"),
        RUN_(20, 49, TERMINAL(M(19) + 50),
             "a keystroke in an SSH terminal at 14:19:50 restarts the idle timeout (no stop at 14:30)"),
        HB_(50, TERMINAL(M(19) + 50)),
        EXPECT_(50, ORCH_ACT_IDLE_STOP,
                "idle since 14:19 UTC: no terminal input for 30 min, 1 SSH session open",
                "the stop comes a timeout after the last keystroke, and says so"),
)},
{"high CPU", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 120, CPU_BUSY, "a workspace with CPU load at or above cpu_idle_pct is kept (2 h at 50%)"),
        DEADLINE_(120, M(150), "while busy, the shown deadline is now + the timeout"),
        RUN_(121, 149, NOBODY, "after the load drops, the timeout counts from the last busy heartbeat"),
        HB_(150, NOBODY),
        EXPECT_(150, ORCH_ACT_IDLE_STOP, "idle since 16:00 UTC",
                "once the CPU is quiet for the timeout, the workspace is stopped"),
)},
{"GPU busy", .idle_timeout_s = 1800, .gpus = true, STEPS(
        RUN_(1, 120, GPU_BUSY, "a GPU at 85% keeps a workspace with no SSH and no CPU load"),
        RUN_(121, 149, GPU_IDLE, "a GPU going idle starts the timeout"),
        HB_(150, GPU_IDLE),
        EXPECT_(150, ORCH_ACT_IDLE_STOP, "CPU 1% (< 5%), GPU 0% (< 10%)",
                "an idle GPU workspace is stopped (releasing its GPUs), the GPU figure in the reason"),
)},
{"untouched terminal", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 30, TERMINAL(M(1)), "a fresh SSH terminal keeps the workspace for the timeout"),
        HB_(31, TERMINAL(M(1))),
        EXPECT_(31, ORCH_ACT_IDLE_STOP, "no terminal input for 30 min, 1 SSH session open",
                "an SSH terminal left open without input still idles out"),
)},
{"SSH without terminal", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 180, NOTTY, "an SSH session without a terminal (scp, rsync, IDE remote) counts as use"),
)},
{"extend", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 20, NOBODY, "idle, not yet due"),
        DEADLINE_(20, M(30), "the deadline before extending is 14:30"),
        EXTEND_(20, 0, false, "at least 1 second", "an empty extension is refused"),
        EXTEND_(20, 8 * 86400, false, "longer than the maximum of 7 d: ask for 7 d or less",
                "an extension beyond the cap (7 days) is refused, naming the cap"),
        DEADLINE_(20, M(30), "a refused extension leaves the deadline alone"),
        EXTEND_(20, 3600, true, NULL, "wsctl extend 1h is accepted"),
        DEADLINE_(20, M(80), "extend moves the shown deadline to now + 1 h"),
        SHOW_(20, "extended until 15:20 UTC", "wsctl show says until when it is extended"),
        RUN_(21, 79, NOBODY, "no idle stop before the extension runs out"),
        HB_(80, NOBODY),
        EXPECT_(80, ORCH_ACT_IDLE_STOP, "idle since 14:00 UTC",
                "still idle when the extension ends: stopped then"),
)},
{"agent silent", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 10, NOBODY, "idle with heartbeats"),
        EXPECT_(13, ORCH_ACT_NONE, NULL, "a gap up to agent_silence_s (3 min) is not silence"),
        EXPECT_(14, ORCH_ACT_FLAG_SILENT, "agent silent since 14:10 UTC (4 min)",
                "an agent that stops reporting is flagged, with since when"),
        EXPECT_(14, ORCH_ACT_NONE, NULL, "the silence flag is raised once"),
        EXPECT_(60, ORCH_ACT_NONE, NULL, "a silent workspace is not stopped as idle, even past the timeout"),
        SHOW_(60, "idle clock paused: agent silent since 14:10 UTC", "wsctl show says the clock is paused and why"),
        HB_(70, NOBODY),
        EXPECT_(70, ORCH_ACT_UNFLAG, "agent reporting again at 15:10 UTC after a silence from 14:10 UTC",
                "the flag clears when heartbeats resume"),
        RUN_(71, 89, NOBODY, "the silence was not counted as idle: 10 min seen before it, 19 after"),
        HB_(90, NOBODY),
        EXPECT_(90, ORCH_ACT_IDLE_STOP, "not counting 1 h when the agent was silent",
                "nor as busy: the stop comes when the idle time seen reaches the timeout"),
)},
{"silent when the extension ends", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 20, NOBODY, "idle"),
        EXTEND_(20, 1800, true, NULL, "extended to 14:50"),
        RUN_(21, 45, NOBODY, "idle past the timeout, but extended"),
        EXPECT_(49, ORCH_ACT_FLAG_SILENT, NULL, "the agent goes silent before the extension ends"),
        EXPECT_(55, ORCH_ACT_NONE, NULL,
                "a workspace whose agent is silent is not stopped when its extension runs out"),
        HB_(60, NOBODY),
        EXPECT_(60, ORCH_ACT_UNFLAG, NULL, "heartbeats are back"),
        EXPECT_(60, ORCH_ACT_IDLE_STOP, "not counting 15 min",
                "idle past the timeout and no longer extended: stopped once seen idle again"),
)},
{"agent never reports", .idle_timeout_s = 1800, STEPS(
        EXPECT_(10, ORCH_ACT_NONE, NULL, "a booting workspace has agent_boot_grace_s (10 min) to report"),
        EXPECT_(11, ORCH_ACT_FLAG_SILENT, "agent has not reported since the start at 14:00 UTC",
                "an agent that never reports after a start is flagged"),
        EXPECT_(120, ORCH_ACT_NONE, NULL, "a workspace whose agent never reported is not idle-stopped"),
)},
{"lifetime stop", .lifetime_s = 7200, .action = ORCH_LIFE_STOP, STEPS(
        RUN_(1, 104, CPU_BUSY, "nothing before the warning time"),
        HB_(105, CPU_BUSY),
        EXPECT_(105, ORCH_ACT_LIFETIME_WARN,
                "lifetime of 2 h ends at 16:00 UTC (in 15 min): the workspace will then be stopped",
                "a warning event comes lifetime_warning_s (15 min) before the end"),
        RUN_(106, 119, CPU_BUSY, "the warning is given once"),
        HB_(120, CPU_BUSY),
        EXPECT_(120, ORCH_ACT_LIFETIME_STOP, "lifetime of 2 h ended at 16:00 UTC (created 14:00 UTC): stopped",
                "at the end of its lifetime a busy workspace is stopped anyway"),
        EXPECT_(120, ORCH_ACT_LIFETIME_STOP, NULL, "the stop is asked for again until the caller acts"),
        STOP_(120),
        EXPECT_(121, ORCH_ACT_NONE, NULL, "a workspace stopped at the end of its lifetime stays stopped"),
        MAYSTART_(121, false, "hard lifetime ended at 16:00 UTC: it cannot be started again",
                  "starting it after its lifetime is refused with the reason"),
)},
{"lifetime delete", .lifetime_s = 7200, .action = ORCH_LIFE_DELETE, STEPS(
        RUN_(1, 30, NOBODY, "idle stop off: an idle workspace with only a lifetime runs on"),
        STOP_(30),
        MAYSTART_(60, true, NULL, "a stopped workspace within its lifetime may be started"),
        EXPECT_(105, ORCH_ACT_LIFETIME_WARN, "will then be deleted",
                "the deletion warning comes even while the workspace is stopped"),
        EXPECT_(120, ORCH_ACT_LIFETIME_DELETE, "ended at 16:00 UTC (created 14:00 UTC): deleted",
                "a workspace whose template says delete is deleted at the end of its lifetime"),
)},
{"extend vs lifetime", .idle_timeout_s = 1800, .lifetime_s = 7200, STEPS(
        RUN_(1, 60, CPU_BUSY, "busy"),
        EXTEND_(60, 7200, false, "hard lifetime, which ends at 16:00 UTC: ask for 1 h or less",
                "an extension past the hard lifetime is refused, saying how much is left"),
        EXTEND_(60, 3600, true, NULL, "an extension up to the end of the lifetime is accepted"),
        RUN_(61, 104, NOBODY, "the extension holds off the idle stop"),
        EXPECT_(105, ORCH_ACT_LIFETIME_WARN, NULL, "the lifetime warning still comes"),
        RUN_(106, 119, NOBODY, "still extended"),
        EXPECT_(120, ORCH_ACT_LIFETIME_STOP, NULL, "the lifetime ends it, whatever the extension"),
)},
{"idle timeout 0", .idle_timeout_s = 0, STEPS(
        RUN_(1, 24 * 60, NOBODY, "idle timeout 0: an idle workspace is never stopped for idleness (24 h)"),
        DEADLINE_(24 * 60, 0, "no idle deadline is shown when idle stop is off"),
        EXTEND_(24 * 60, 3600, false, "idle auto-stop is off", "extending is refused when there is nothing to extend"),
)},
{"GPU figure unknown", .idle_timeout_s = 1800, .gpus = true, STEPS(
        RUN_(1, 180, NOBODY, "a GPU workspace with no GPU figure (no nvidia-smi) is not stopped as idle"),
        SHOW_(180, "GPU utilisation unknown", "wsctl show says the GPU figure is missing"),
        RUN_(181, 209, GPU_IDLE, "once the figure is known, only idle time seen from then counts"),
        HB_(210, GPU_IDLE),
        EXPECT_(210, ORCH_ACT_IDLE_STOP, "GPU 0% (< 10%)", "and the workspace then idles out"),
)},
{"CPU figure unknown", .idle_timeout_s = 1800, STEPS(
        RUN_(1, 180, CPU_UNKNOWN, "an unknown CPU load is never idle evidence by itself"),
)},
};

/* Through the persisted text and back; false if anything was lost. */
static bool restart(orch_policy_state *s)
{
        _cleanup_free_ char *before = orch_policy_state_format(s);
        _cleanup_free_ char *after = NULL;
        hd_error err = {0};

        if (orch_policy_state_parse(before, s, &err) < 0) {
                printf("# parse: %s\n", err.message);
                return false;
        }
        after = orch_policy_state_format(s);
        return strcmp(before, after) == 0;
}

static void heartbeat(const orch_policy *p, orch_policy_state *s, int64_t t, guest g)
{
        orch_activity a = {.at = t, .ssh_sessions = g.ssh, .users = g.users,
                           .last_input_age_s = g.input_at ? t - g.input_at : -1,
                           .load1 = g.load1, .vcpus = VCPUS, .gpu_util_pct = g.gpu};

        orch_policy_observe(p, s, &a);
}

static bool matches(const char *text, const char *want)
{
        return !want || strstr(text, want);
}

static void run_step(const scenario *sc, const orch_policy *p, orch_policy_state *s,
                     const step *st, bool *persist_ok)
{
        _cleanup_free_ char *what = hd_asprintf("%s: %s", sc->name, st->what ? st->what : "");
        char text[512] = "";
        hd_error err = {0};
        orch_policy_action act;
        int64_t d;
        bool ok = true;

        switch (st->kind) {
        case HB:
                heartbeat(p, s, M(st->t), st->g);
                break;
        case STOP:
                orch_policy_stopped(s);
                break;
        case RUN:
                for (int64_t m = st->t; m <= st->to; m++) {
                        heartbeat(p, s, M(m), st->g);
                        *persist_ok &= restart(s);
                        act = orch_policy_decide(p, s, M(m), text, sizeof(text));
                        if (act != ORCH_ACT_NONE && ok) {
                                ok = false;
                                printf("# minute %lld: %s: %s\n", (long long)m,
                                       orch_policy_action_name(act), text);
                        }
                }
                CHECK(ok, what);
                break;
        case EXPECT:
                act = orch_policy_decide(p, s, M(st->t), text, sizeof(text));
                if (!CHECK(act == st->want && matches(text, st->contains), what))
                        printf("#   got %s: %s\n#   want %s: %s\n", orch_policy_action_name(act),
                               text, orch_policy_action_name(st->want),
                               st->contains ? st->contains : "");
                break;
        case EXTEND:
                ok = orch_policy_extend(p, s, M(st->t), st->secs, &err) == 0;
                if (!CHECK(ok == st->ok && (ok || matches(err.message, st->contains)), what))
                        printf("#   error: %s\n", err.message);
                break;
        case DEADLINE:
                d = orch_policy_idle_deadline(p, s, M(st->t));
                if (!CHECK(d == (st->when ? st->when : 0), what))
                        printf("#   got %+lld s from T0\n", (long long)(d - T0));
                break;
        case SHOW:
                orch_policy_describe(p, s, M(st->t), text, sizeof(text));
                CHECK_CONTAINS(text, st->contains, what);
                break;
        case MAYSTART:
                ok = orch_policy_may_start(p, s, M(st->t), &err) == 0;
                if (!CHECK(ok == st->ok && (ok || matches(err.message, st->contains)), what))
                        printf("#   error: %s\n", err.message);
                break;
        }
        *persist_ok &= restart(s);
}

static void test_scenarios(void)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(scenarios); i++) {
                const scenario *sc = &scenarios[i];
                orch_policy p;
                orch_policy_state s;
                bool persist_ok = true;

                orch_policy_defaults(&p);
                p.idle_timeout_s = sc->idle_timeout_s;
                p.lifetime_s = sc->lifetime_s;
                p.lifetime_action = sc->action;
                p.gpus = sc->gpus;
                p.agent_silence_s = 180;
                CHECK(orch_policy_check(&p, NULL) == 0, "the scenario's policy is valid");
                orch_policy_state_init(&s, T0);
                orch_policy_started(&s, T0);
                for (size_t j = 0; j < sc->n; j++)
                        run_step(sc, &p, &s, &sc->steps[j], &persist_ok);
                _cleanup_free_ char *what = hd_asprintf(
                        "%s: the policy state survives a hostd restart at every step", sc->name);
                CHECK(persist_ok, what);
        }
}

static void test_requested_lifetime(void)
{
        char note[256];
        unsigned eff = 0;
        hd_error err = {0};

        CHECK(orch_policy_lifetime(48 * 3600, 24 * 3600, &eff, note, sizeof(note), &err) == 0 &&
              eff == 24 * 3600,
              "a requested lifetime longer than the template's is capped to the template's");
        CHECK_STR(note, "a lifetime of 2 d was requested; the template allows at most 1 d, so the workspace gets 1 d",
                  "the cap is told to the requester in words");
        CHECK(orch_policy_lifetime(2 * 3600, 24 * 3600, &eff, note, sizeof(note), &err) == 0 &&
              eff == 2 * 3600 && note[0] == '\0',
              "a shorter requested lifetime is kept, with no note");
        CHECK(orch_policy_lifetime(0, 24 * 3600, &eff, note, sizeof(note), &err) == 0 && eff == 24 * 3600,
              "no requested lifetime: the template's applies");
        CHECK(orch_policy_lifetime(3600, 0, &eff, note, sizeof(note), &err) == 0 && eff == 3600,
              "a template without a lifetime lets the request set one");
        CHECK(orch_policy_lifetime(3600000u * 1000, 0, &eff, note, sizeof(note), &err) < 0 &&
              err.code == HD_E_INVALID,
              "a lifetime beyond 366 days is refused");
        CHECK_CONTAINS(err.message, "not milliseconds", "the refusal hints at milliseconds sent as seconds");
}

static void test_policy_check(void)
{
        orch_policy p;
        hd_error err = {0};

        orch_policy_defaults(&p);
        CHECK(orch_policy_check(&p, &err) == 0, "the recommended policy is valid");
        p.cpu_idle_pct = 0;
        CHECK(orch_policy_check(&p, &err) < 0 && strstr(err.message, "cpu_idle_pct"),
              "a CPU threshold of 0 (everything busy) is refused, naming the field");
        orch_policy_defaults(&p);
        p.gpu_idle_pct = 150;
        CHECK(orch_policy_check(&p, &err) < 0 && strstr(err.message, "gpu_idle_pct"),
              "a GPU threshold above 100% is refused");
        orch_policy_defaults(&p);
        p.agent_silence_s = 0;
        CHECK(orch_policy_check(&p, &err) < 0 && strstr(err.message, "agent_silence_s"),
              "a zero silence limit is refused");
}

static void test_state_text(void)
{
        orch_policy_state s, back;
        hd_error err = {0};
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ char *again = NULL;

        orch_policy_state_init(&s, T0);
        orch_policy_started(&s, T0 + 5);
        s.last = (orch_activity){T0 + 65, 2, 1, 42, 0.52, 4, 37.5};
        s.last_verdict = ORCH_VERDICT_BUSY;
        s.silent_flagged = true;
        text = orch_policy_state_format(&s);
        CHECK(orch_policy_state_parse(text, &back, &err) == 0, "the persisted state parses back");
        again = orch_policy_state_format(&back);
        CHECK_STR(again, text, "every member survives the text form");
        CHECK(back.last.load1 == 0.52 && back.last_verdict == ORCH_VERDICT_BUSY && back.silent_flagged,
              "figures, verdict and flags are kept exactly");
        CHECK(orch_policy_state_parse("v1 created=1", &back, &err) < 0 &&
              strstr(err.message, "missing"),
              "a state with members missing is refused, not half read");
        CHECK(orch_policy_state_parse("v2 created=1", &back, &err) < 0,
              "a state from another format version is refused");
        _cleanup_free_ char *bad = hd_asprintf("%s load1=x", text);
        CHECK(orch_policy_state_parse(bad, &back, &err) < 0 && strstr(err.message, "twice"),
              "a member given twice is refused");
}

static void test_words(void)
{
        char buf[64];

        orch_policy_format_duration(45, buf, sizeof(buf));
        CHECK_STR(buf, "45 s", "durations under a minute are in seconds");
        orch_policy_format_duration(2 * 3600 + 5 * 60 + 7, buf, sizeof(buf));
        CHECK_STR(buf, "2 h 5 min", "durations are in hours and minutes");
        orch_policy_format_time(M(24 * 60 + 2), M(0), buf, sizeof(buf));
        CHECK_STR(buf, "2024-05-02 14:02 UTC", "a time on another day carries its date");
}

int main(void)
{
        test_scenarios();
        test_requested_lifetime();
        test_policy_check();
        test_state_text();
        test_words();
        return tl_done();
}

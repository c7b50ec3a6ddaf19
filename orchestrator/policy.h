/* policy.h — idle auto-stop and hard lifetimes: the pure decision engine.
 *
 * The engine is fed the agent's heartbeats (orch_policy_observe) and asked,
 * at a time the caller chooses, what to do now (orch_policy_decide).  It
 * never reads a clock: every time is passed in (seconds since the epoch,
 * UTC), so tests run simulated timelines without sleeping.  It owns no
 * storage either: the caller keeps one orch_policy_state per workspace,
 * persists it (orch_policy_state_format / _parse give a one-line text form)
 * and carries out the actions.  The rules are in docs/idle-and-lifetimes.md. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One heartbeat's figures (docs/agent-protocol.md); unknown ("null") figures
 * are negative, never a made-up zero. */
typedef struct orch_activity {
        int64_t at;                /* when hostd received it */
        int ssh_sessions;          /* -1 unknown */
        int users;                 /* -1 unknown */
        int64_t last_input_age_s;  /* -1 unknown or no terminal */
        double load1;              /* < 0 unknown */
        int vcpus;                 /* the domain's vCPUs (from hostd, not the agent); <= 0 unknown */
        double gpu_util_pct;       /* highest over the guest's GPUs; < 0 unknown (no nvidia-smi) */
} orch_activity;

typedef enum orch_lifetime_action { ORCH_LIFE_STOP, ORCH_LIFE_DELETE } orch_lifetime_action;

/* One workspace's rules: the template's values, with the lifetime the
 * request asked for (orch_policy_lifetime) already applied. */
typedef struct orch_policy {
        unsigned idle_timeout_s;        /* 0: no idle auto-stop */
        double cpu_idle_pct;            /* load1 / vcpus below this percentage is idle (e.g. 5) */
        double gpu_idle_pct;            /* GPU utilisation below this is idle (e.g. 10) */
        bool gpus;                      /* the workspace has GPUs: their figure is needed to call it idle */
        unsigned agent_silence_s;       /* no heartbeat for longer than this: the agent is silent */
        unsigned agent_boot_grace_s;    /* same, for the first heartbeat after a start (boot, cloud-init) */
        unsigned max_extend_s;          /* longest "wsctl extend"; 0: ORCH_POLICY_MAX_EXTEND_S */
        unsigned lifetime_s;            /* 0: no hard lifetime; counted from creation */
        unsigned lifetime_warning_s;    /* warning event this long before the end */
        orch_lifetime_action lifetime_action;
} orch_policy;

#define ORCH_POLICY_MAX_EXTEND_S (7u * 24 * 3600)
#define ORCH_POLICY_MAX_LIFETIME_S (366u * 24 * 3600)

typedef enum orch_verdict {
        ORCH_VERDICT_NONE,     /* no heartbeat since the start */
        ORCH_VERDICT_BUSY,
        ORCH_VERDICT_IDLE,
        ORCH_VERDICT_UNKNOWN,  /* not busy, but a figure needed to call it idle is unknown */
} orch_verdict;

/* Per-workspace memory of the engine, persisted by the caller.  Times are
 * seconds since the epoch; 0 means "none". */
typedef struct orch_policy_state {
        int64_t created_at;
        int64_t running_since;      /* 0: not running */
        int64_t last_active;        /* last moment of known activity (or the start) */
        int64_t unwitnessed_s;      /* since last_active: time not counted as idle (agent silent, figures unknown) */
        int64_t last_heartbeat_at;  /* 0: none since the start */
        orch_verdict last_verdict;
        orch_activity last;         /* the latest heartbeat's figures */
        int64_t extended_until;     /* no idle stop before this */
        int64_t silent_since;       /* when the flagged silence began */
        bool silent_flagged;
        bool lifetime_warned;
} orch_policy_state;

typedef enum orch_policy_action {
        ORCH_ACT_NONE,
        ORCH_ACT_FLAG_SILENT,      /* record and show that the agent stopped reporting */
        ORCH_ACT_UNFLAG,           /* heartbeats are back: clear the flag */
        ORCH_ACT_IDLE_STOP,        /* stop gracefully (releasing GPUs) */
        ORCH_ACT_LIFETIME_WARN,    /* record a warning event */
        ORCH_ACT_LIFETIME_STOP,
        ORCH_ACT_LIFETIME_DELETE,
} orch_policy_action;

/* Recommended values for what a template does not set: CPU 5 %, GPU 10 %,
 * silence 60 s, boot grace 600 s, warning 15 min, action stop; idle stop and
 * lifetime off. */
void orch_policy_defaults(orch_policy *p);
/* Refuse values that make no sense (thresholds outside 0–100 %, a zero
 * silence with idle stop on…), with a message naming the field. */
int orch_policy_check(const orch_policy *p, hd_error *err);

/* A new workspace, created at `now`; then started / stopped as it goes. */
void orch_policy_state_init(orch_policy_state *s, int64_t created_at);
void orch_policy_started(orch_policy_state *s, int64_t now);
void orch_policy_stopped(orch_policy_state *s);

/* Feed one heartbeat (ignored while not running). */
void orch_policy_observe(const orch_policy *p, orch_policy_state *s, const orch_activity *a);

/* What to do at `now`, with a human reason (UTC times) in reason[].  Each
 * call returns one action; flags and the warning are returned once (the
 * state records that they were), so a caller loops until ORCH_ACT_NONE or a
 * stop/delete.  Stop and delete are returned again until the caller acts on
 * them (orch_policy_stopped).  Priority: lifetime end, silence flag/unflag,
 * lifetime warning, idle stop. */
orch_policy_action orch_policy_decide(const orch_policy *p, orch_policy_state *s, int64_t now,
                                      char *reason, size_t reason_len);
const char *orch_policy_action_name(orch_policy_action a);

/* Is the agent silent at `now` (no heartbeat for agent_silence_s, or none
 * agent_boot_grace_s after the start)? */
bool orch_policy_silent(const orch_policy *p, const orch_policy_state *s, int64_t now);
/* Seconds of idleness counted so far (time the agent was silent or figures
 * were unknown is not counted). */
int64_t orch_policy_idle_elapsed(const orch_policy *p, const orch_policy_state *s, int64_t now);
/* The earliest time the workspace can be stopped for idleness, i.e. if
 * every heartbeat from now on says idle: 0 when idle stop is off or the
 * workspace is not running.  Never before `now` nor the extension. */
int64_t orch_policy_idle_deadline(const orch_policy *p, const orch_policy_state *s, int64_t now);
/* One line for "wsctl show": the deadline, since when idle, or why the
 * clock is paused ("agent silent", "GPU utilisation unknown"). */
void orch_policy_describe(const orch_policy *p, const orch_policy_state *s, int64_t now,
                          char *out, size_t out_len);
/* "wsctl extend": no idle stop before now + seconds (replacing an earlier
 * extension).  Refused (HD_E_INVALID) for 0, beyond max_extend_s or past the
 * hard lifetime, and (HD_E_CONFLICT) when idle stop is off, the workspace
 * is not running or its lifetime has ended. */
int orch_policy_extend(const orch_policy *p, orch_policy_state *s, int64_t now, unsigned seconds,
                       hd_error *err);

/* End of the hard lifetime (0: none). */
int64_t orch_policy_lifetime_end(const orch_policy *p, const orch_policy_state *s);
/* May the workspace be started at `now`?  Refused (HD_E_CONFLICT) once its
 * lifetime has ended. */
int orch_policy_may_start(const orch_policy *p, const orch_policy_state *s, int64_t now,
                          hd_error *err);
/* The lifetime a request gets: requested_s (0: the template's), capped by
 * template_max_s (0: no cap).  When capped, note[] says so (else it is "").
 * Refused (HD_E_INVALID) beyond ORCH_POLICY_MAX_LIFETIME_S, which mostly
 * catches milliseconds sent as seconds. */
int orch_policy_lifetime(unsigned requested_s, unsigned template_max_s, unsigned *effective,
                         char *note, size_t note_len, hd_error *err);

/* ---- text (policy-text.c) ---------------------------------------------------- */

/* "45 s", "32 min", "2 h 5 min", "3 d 4 h". */
void orch_policy_format_duration(int64_t seconds, char *out, size_t out_len);
/* "14:02 UTC" when on the same UTC day as `now`, else "2024-05-02 14:02 UTC". */
void orch_policy_format_time(int64_t t, int64_t now, char *out, size_t out_len);
/* The state as one line of "key=value" words, and back (strict: a bad or
 * missing member is refused, so a damaged row is noticed). */
char *orch_policy_state_format(const orch_policy_state *s);
int orch_policy_state_parse(const char *text, orch_policy_state *s, hd_error *err);

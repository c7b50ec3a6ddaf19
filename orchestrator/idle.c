/* idle.c — the idle/lifetime engine (policy.h) wired into the service: each
 * workspace's settings and engine state live on its row; heartbeats feed the
 * engine, a periodic sweep asks it what to do and does it (stop, delete,
 * events), and the API reads the deadline and extends it. Every time is
 * hostd's clock. Read-modify-write of a state holds svc->policy_lock, so a
 * heartbeat and an extend never lose each other's change. */
#include "orchestrator/service-internal.h"

#include "common/common.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

#define SWEEP_EVERY_S 15

typedef struct pol {
        orch_ws_policy row;
        orch_policy p;
        orch_policy_state s;
} pol;

static void pol_clear(pol *x)
{
        orch_ws_policy_clear(&x->row);
}

static bool has_policy(const orch_ws_policy *row)
{
        return row->state && (row->idle_timeout_s || row->lifetime_s);
}

/* 1 with x filled when ws has a policy, 0 when none, -1 on error. */
static int pol_load(orch_service *svc, const orch_workspace *ws, pol *x, hd_error *err)
{
        if (orch_store_policy_get(svc->store, ws->id, &x->row, err) < 0)
                return -1;
        if (!has_policy(&x->row))
                return 0;
        orch_policy_defaults(&x->p);
        x->p.lifetime_warning_s = svc->p.lifetime_warning;
        if (svc->p.idle_cpu_percent)
                x->p.cpu_idle_pct = svc->p.idle_cpu_percent;
        if (svc->p.idle_gpu_percent)
                x->p.gpu_idle_pct = svc->p.idle_gpu_percent;
        x->p.idle_timeout_s = x->row.idle_timeout_s;
        x->p.lifetime_s = x->row.lifetime_s;
        x->p.lifetime_action = x->row.lifetime_delete ? ORCH_LIFE_DELETE : ORCH_LIFE_STOP;
        x->p.gpus = ws->gpu_count > 0;
        if (orch_policy_state_parse(x->row.state, &x->s, err) < 0)
                return hd_error_prefix(err, "workspace %s: stored policy state", ws->id);
        return 1;
}

static int pol_save(orch_service *svc, const char *id, pol *x, hd_error *err)
{
        _cleanup_free_ char *text = orch_policy_state_format(&x->s);
        orch_ws_policy row = x->row;

        row.state = text;
        return orch_store_policy_set(svc->store, id, &row, err);
}

int orch_policy_setup(orch_service *svc, const orch_workspace *ws, unsigned idle_timeout_s,
                      unsigned lifetime_s, bool lifetime_delete, hd_error *err)
{
        orch_policy_state s;
        _cleanup_free_ char *text = NULL;
        orch_ws_policy row = {.idle_timeout_s = idle_timeout_s, .lifetime_s = lifetime_s,
                              .lifetime_delete = lifetime_delete};

        orch_policy_state_init(&s, ws->created_at);
        row.state = text = orch_policy_state_format(&s);
        return orch_store_policy_set(svc->store, ws->id, &row, err);
}

/* Load id's policy, apply fn, save; nothing when it has none. */
static void pol_update(orch_service *svc, const char *id, void (*fn)(pol *x, void *arg), void *arg)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = orch_store_workspace_get(svc->store, id, NULL);
        _cleanup_(pol_clear) pol x = {0};

        if (!ws)
                return;
        pthread_mutex_lock(&svc->policy_lock);
        if (pol_load(svc, ws, &x, NULL) == 1) {
                fn(&x, arg);
                pol_save(svc, id, &x, NULL);
        }
        pthread_mutex_unlock(&svc->policy_lock);
}

static void do_started(pol *x, void *arg)
{
        orch_policy_started(&x->s, *(int64_t *)arg);
}

static void do_stopped(pol *x, void *arg)
{
        (void)arg;
        orch_policy_stopped(&x->s);
}

void orch_policy_on_start(orch_service *svc, const char *id)
{
        int64_t now = time(NULL);

        pol_update(svc, id, do_started, &now);
}

void orch_policy_on_stop(orch_service *svc, const char *id)
{
        pol_update(svc, id, do_stopped, NULL);
}

static int int_or(json_t *v, int dflt)
{
        return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static double num_or(json_t *v, double dflt)
{
        return json_is_number(v) ? json_number_value(v) : dflt;
}

typedef struct hb_arg {
        json_t *hb;
        int vcpus;
} hb_arg;

static void do_observe(pol *x, void *arg)
{
        const hb_arg *h = arg;
        json_t *age = json_object_get(h->hb, "last_input_age_s");
        orch_activity a = {
                .at = time(NULL),
                .ssh_sessions = int_or(json_object_get(h->hb, "ssh_sessions"), -1),
                .users = int_or(json_object_get(h->hb, "users"), -1),
                .last_input_age_s = json_is_integer(age) ? json_integer_value(age) : -1,
                .load1 = num_or(json_object_get(h->hb, "load1"), -1),
                .vcpus = h->vcpus,
                .gpu_util_pct = num_or(json_object_get(h->hb, "gpu_util_pct"), -1),
        };

        orch_policy_observe(&x->p, &x->s, &a);
}

void orch_policy_on_heartbeat(orch_service *svc, const char *id, json_t *hb, unsigned vcpus)
{
        hb_arg h = {.hb = hb, .vcpus = (int)vcpus};

        pol_update(svc, id, do_observe, &h);
}

/* ---- the sweep --------------------------------------------------------------- */

static void act(orch_service *svc, const orch_workspace *ws, orch_policy_action a, const char *reason,
                void (*report)(void *ctx, const char *line), void *ctx)
{
        hd_error err = {0};
        orch_workspace *done = NULL;
        const char *kind = NULL;

        switch (a) {
        case ORCH_ACT_IDLE_STOP:
        case ORCH_ACT_LIFETIME_STOP:
                done = orch_ws_stop_for(svc, ws->id, reason, &err);
                break;
        case ORCH_ACT_LIFETIME_DELETE:
                done = orch_ws_delete_for(svc, ws->id, reason, &err);
                break;
        case ORCH_ACT_FLAG_SILENT:
                kind = "agent_silent";
                break;
        case ORCH_ACT_UNFLAG:
                kind = "agent_back";
                break;
        case ORCH_ACT_LIFETIME_WARN:
                kind = "lifetime_warning";
                break;
        case ORCH_ACT_NONE:
                return;
        }
        if (kind) {
                orch_store_event_add(svc->store, ws->id, kind, reason, NULL, NULL);
        } else if (!done) {
                if (report) {
                        _cleanup_free_ char *line = hd_asprintf("workspace %s (%s): %s not done: %s", ws->name,
                                                                ws->id, orch_policy_action_name(a), err.message);
                        report(ctx, line);
                }
                return;
        }
        orch_workspace_free(done);
        if (report) {
                _cleanup_free_ char *line = hd_asprintf("workspace %s (%s): %s: %s", ws->name, ws->id,
                                                        orch_policy_action_name(a), reason);
                report(ctx, line);
        }
}

static void sweep_one(orch_service *svc, const orch_workspace *ws, int64_t now,
                      void (*report)(void *ctx, const char *line), void *ctx)
{
        _cleanup_(pol_clear) pol x = {0};
        orch_policy_action acts[8];
        char reasons[8][512];
        size_t n = 0;

        pthread_mutex_lock(&svc->policy_lock);
        if (pol_load(svc, ws, &x, NULL) == 1) {
                /* One action per call; stop and delete end the loop (docs/idle-and-lifetimes.md). */
                while (n < 8) {
                        acts[n] = orch_policy_decide(&x.p, &x.s, now, reasons[n], sizeof(reasons[n]));
                        if (acts[n] == ORCH_ACT_NONE)
                                break;
                        n++;
                        if (acts[n - 1] == ORCH_ACT_IDLE_STOP || acts[n - 1] == ORCH_ACT_LIFETIME_STOP ||
                            acts[n - 1] == ORCH_ACT_LIFETIME_DELETE)
                                break;
                }
                if (n)
                        pol_save(svc, ws->id, &x, NULL);
        }
        pthread_mutex_unlock(&svc->policy_lock);
        /* Acting takes the lock again (the stop job's on_stop): outside it. */
        for (size_t i = 0; i < n; i++)
                act(svc, ws, acts[i], reasons[i], report, ctx);
}

void orch_policy_sweep(orch_service *svc, void (*report)(void *ctx, const char *line), void *ctx)
{
        orch_ws_filter f = {.states = ORCH_WS_BIT(ORCH_WS_RUNNING) | ORCH_WS_BIT(ORCH_WS_READY) |
                                      ORCH_WS_BIT(ORCH_WS_STOPPED)};
        orch_workspace_list l = {0};
        int64_t now = time(NULL);

        if (now - svc->last_sweep < SWEEP_EVERY_S)
                return;
        svc->last_sweep = now;
        if (orch_store_workspace_list(svc->store, &f, &l, NULL) < 0)
                return;
        for (size_t i = 0; i < l.count; i++)
                sweep_one(svc, &l.items[i], now, report, ctx);
        orch_workspace_list_free(&l);
}

/* ---- the API's side ------------------------------------------------------------ */

int orch_ws_policy_info(orch_service *svc, const orch_workspace *ws, orch_ws_idle_info *out, hd_error *err)
{
        _cleanup_(pol_clear) pol x = {0};
        int64_t now = time(NULL);
        int r;

        *out = (orch_ws_idle_info){0};
        pthread_mutex_lock(&svc->policy_lock);
        r = pol_load(svc, ws, &x, err);
        pthread_mutex_unlock(&svc->policy_lock);
        if (r <= 0)
                return r;
        out->has_policy = true;
        out->idle_timeout_s = x.p.idle_timeout_s;
        out->idle_deadline = orch_policy_idle_deadline(&x.p, &x.s, now);
        out->silent = x.s.silent_flagged;
        orch_policy_describe(&x.p, &x.s, now, out->description, sizeof(out->description));
        out->lifetime_end = orch_policy_lifetime_end(&x.p, &x.s);
        out->lifetime_delete = x.row.lifetime_delete;
        return 1;
}

orch_workspace *orch_ws_extend(orch_service *svc, const char *ref, unsigned seconds, hd_error *err)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = orch_store_workspace_find(svc->store, ref, err);
        _cleanup_(pol_clear) pol x = {0};
        _cleanup_free_ char *why = NULL;
        char dur[32], until[64];
        int r;

        if (!ws)
                return NULL;
        if (ws->state == ORCH_WS_DELETED) {
                hd_error_set(err, HD_E_NOT_FOUND, "workspace '%.64s' is deleted", ref);
                return NULL;
        }
        pthread_mutex_lock(&svc->policy_lock);
        r = pol_load(svc, ws, &x, err);
        if (r == 0)
                hd_error_set(err, HD_E_CONFLICT, "workspace '%s' has no idle auto-stop to extend", ws->name);
        else if (r == 1 && orch_policy_extend(&x.p, &x.s, time(NULL), seconds, err) == 0 &&
                 pol_save(svc, ws->id, &x, err) == 0)
                r = 2;
        pthread_mutex_unlock(&svc->policy_lock);
        if (r != 2)
                return NULL;
        orch_policy_format_duration(seconds, dur, sizeof(dur));
        orch_policy_format_time(x.s.extended_until, x.s.extended_until, until, sizeof(until));
        why = hd_asprintf("no idle stop for %s, until %s", dur, until);
        orch_store_event_add(svc->store, ws->id, "extended", why, NULL, NULL);
        return orch_store_workspace_get(svc->store, ws->id, err);
}

int orch_policy_check_start(orch_service *svc, const orch_workspace *ws, hd_error *err)
{
        _cleanup_(pol_clear) pol x = {0};
        int r;

        pthread_mutex_lock(&svc->policy_lock);
        r = pol_load(svc, ws, &x, err);
        pthread_mutex_unlock(&svc->policy_lock);
        if (r < 0)
                return -1;
        return r == 0 ? 0 : orch_policy_may_start(&x.p, &x.s, time(NULL), err);
}

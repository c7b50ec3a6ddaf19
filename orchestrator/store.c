/* store.c — the backend-neutral half of the store: the workspace state
 * machine, ids, argument checks, freeing rows, and the public functions that
 * dispatch to a backend (store-backend.h). */
#include "orchestrator/store-backend.h"

#include "common/buf.h"

#include <openssl/rand.h>
#include <string.h>
#include <time.h>

/* ---- states ---------------------------------------------------------------- */

static const char *const state_names[ORCH_WS__STATE_COUNT] = {
        [ORCH_WS_PENDING] = "pending",   [ORCH_WS_PROVISIONING] = "provisioning",
        [ORCH_WS_RUNNING] = "running",   [ORCH_WS_READY] = "ready",
        [ORCH_WS_STOPPING] = "stopping", [ORCH_WS_STOPPED] = "stopped",
        [ORCH_WS_STARTING] = "starting", [ORCH_WS_DELETING] = "deleting",
        [ORCH_WS_DELETED] = "deleted",   [ORCH_WS_FAILED] = "failed",
};

/* The transition table, the one place that says which moves are legal.
 *
 *   pending      -> provisioning    placed, GPUs claimed
 *   provisioning -> running         disk, seed and domain made; domain started
 *   running      -> ready           the agent said ready
 *   ready        -> running         the agent went silent (e.g. guest reboot)
 *   running, ready -> stopping      a stop was asked
 *   running, ready -> stopped       the guest powered itself off
 *   stopping     -> stopped
 *   stopped      -> starting
 *   starting     -> running
 *   failed       -> starting        a retry; the caller checks the domain exists
 *   any but deleting, deleted -> deleting
 *   deleting     -> deleted         deleted is final: no move out of it
 *   any but failed, deleted -> failed   (with a reason)
 */
#define B ORCH_WS_BIT
#define LEAVE (B(ORCH_WS_DELETING) | B(ORCH_WS_FAILED))
static const unsigned next_states[ORCH_WS__STATE_COUNT] = {
        [ORCH_WS_PENDING] = B(ORCH_WS_PROVISIONING) | LEAVE,
        [ORCH_WS_PROVISIONING] = B(ORCH_WS_RUNNING) | LEAVE,
        [ORCH_WS_RUNNING] = B(ORCH_WS_READY) | B(ORCH_WS_STOPPING) | B(ORCH_WS_STOPPED) | LEAVE,
        [ORCH_WS_READY] = B(ORCH_WS_RUNNING) | B(ORCH_WS_STOPPING) | B(ORCH_WS_STOPPED) | LEAVE,
        [ORCH_WS_STOPPING] = B(ORCH_WS_STOPPED) | LEAVE,
        [ORCH_WS_STOPPED] = B(ORCH_WS_STARTING) | LEAVE,
        [ORCH_WS_STARTING] = B(ORCH_WS_RUNNING) | LEAVE,
        [ORCH_WS_DELETING] = B(ORCH_WS_DELETED) | B(ORCH_WS_FAILED),
        [ORCH_WS_DELETED] = 0,
        [ORCH_WS_FAILED] = B(ORCH_WS_STARTING) | B(ORCH_WS_DELETING),
};
#undef LEAVE
#undef B

const char *orch_ws_state_name(orch_ws_state s)
{
        return (unsigned)s < ORCH_WS__STATE_COUNT ? state_names[s] : NULL;
}

int orch_ws_state_from_name(const char *name, orch_ws_state *out, hd_error *err)
{
        for (unsigned i = 0; name && i < ORCH_WS__STATE_COUNT; i++) {
                if (strcmp(name, state_names[i]) == 0) {
                        *out = (orch_ws_state)i;
                        return 0;
                }
        }
        return hd_error_set(err, HD_E_INVALID,
                            "unknown workspace state '%.64s' (known: pending, provisioning, "
                            "running, ready, stopping, stopped, starting, deleting, deleted, "
                            "failed)",
                            name ? name : "");
}

bool orch_ws_transition_allowed(orch_ws_state from, orch_ws_state to)
{
        if ((unsigned)from >= ORCH_WS__STATE_COUNT || (unsigned)to >= ORCH_WS__STATE_COUNT)
                return false;
        return next_states[from] & ORCH_WS_BIT(to);
}

/* "running or ready" for a set of states. */
static void append_state_set(hd_buf *b, unsigned set)
{
        bool first = true;

        for (unsigned i = 0; i < ORCH_WS__STATE_COUNT; i++) {
                if (!(set & ORCH_WS_BIT(i)))
                        continue;
                hd_buf_appendf(b, "%s%s", first ? "" : " or ", state_names[i]);
                first = false;
        }
}

int orch_ws_check_transition(const char *id, orch_ws_state from, unsigned expected_from,
                             orch_ws_state to, hd_error *err)
{
        _cleanup_buf_ hd_buf want = HD_BUF_INIT;

        if (expected_from != ORCH_WS_ANY && !(expected_from & ORCH_WS_BIT(from))) {
                append_state_set(&want, expected_from);
                return hd_error_set(err, HD_E_CONFLICT,
                                    "workspace %s is %s, not %s; it was not moved to %s", id,
                                    orch_ws_state_name(from), want.data ? want.data : "?",
                                    orch_ws_state_name(to));
        }
        if (!orch_ws_transition_allowed(from, to))
                return hd_error_set(err, HD_E_CONFLICT,
                                    "workspace %s cannot go from %s to %s", id,
                                    orch_ws_state_name(from), orch_ws_state_name(to));
        return 0;
}

/* ---- ids --------------------------------------------------------------------- */

int orch_ws_new_id(char out[ORCH_WS_ID_LEN + 1], hd_error *err)
{
        unsigned char raw[8];

        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return hd_error_set(err, HD_E_INTERNAL,
                                    "cannot make a workspace id: the system's random "
                                    "generator failed");
        memcpy(out, "ws-", 3);
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(out + 3 + 2 * i, 3, "%02x", raw[i]);
        return 0;
}

bool orch_ws_id_valid(const char *s)
{
        if (!s || strlen(s) != ORCH_WS_ID_LEN || strncmp(s, "ws-", 3) != 0)
                return false;
        return strspn(s + 3, "0123456789abcdef") == ORCH_WS_ID_LEN - 3;
}

/* ---- freeing rows ------------------------------------------------------------ */

void orch_image_clear(orch_image *img)
{
        if (!img)
                return;
        free(img->name);
        free(img->format);
        free(img->sha256);
        memset(img, 0, sizeof(*img));
}

void orch_image_free(orch_image *img)
{
        orch_image_clear(img);
        free(img);
}

void orch_workspace_clear(orch_workspace *ws)
{
        if (!ws)
                return;
        free(ws->id);
        free(ws->name);
        free(ws->owner);
        free(ws->image);
        free(ws->template_name);
        free(ws->template_version);
        free(ws->reason);
        free(ws->agent_token_hash);
        free(ws->ip_addresses);
        free(ws->last_heartbeat);
        free(ws->ssh_user);
        free(ws->gpu_model);
        free(ws->gpu_numa);
        memset(ws, 0, sizeof(*ws));
}

void orch_workspace_free(orch_workspace *ws)
{
        orch_workspace_clear(ws);
        free(ws);
}

void orch_event_clear(orch_event *ev)
{
        if (!ev)
                return;
        free(ev->workspace_id);
        free(ev->kind);
        free(ev->from_state);
        free(ev->to_state);
        free(ev->reason);
        free(ev->detail);
        free(ev->name);
        free(ev->owner);
        free(ev->state);
        memset(ev, 0, sizeof(*ev));
}

void orch_template_version_clear(orch_template_version *v)
{
        if (!v)
                return;
        free(v->name);
        free(v->hash);
        free(v->canonical_json);
        free(v->pushed_by);
        memset(v, 0, sizeof(*v));
}

void orch_template_version_free(orch_template_version *v)
{
        orch_template_version_clear(v);
        free(v);
}

void orch_gpu_row_clear(orch_gpu_row *g)
{
        if (!g)
                return;
        free(g->address);
        free(g->vendor_device);
        free(g->model);
        free(g->quarantine_reason);
        free(g->workspace_id);
        memset(g, 0, sizeof(*g));
}

#define DEFINE_LIST_FREE(list_type, clear)                       \
        void list_type##_free(list_type *l)                      \
        {                                                        \
                if (!l)                                          \
                        return;                                  \
                for (size_t i = 0; i < l->count; i++)            \
                        clear(&l->items[i]);                     \
                free(l->items);                                  \
                l->items = NULL;                                 \
                l->count = 0;                                    \
        }
DEFINE_LIST_FREE(orch_image_list, orch_image_clear)
DEFINE_LIST_FREE(orch_workspace_list, orch_workspace_clear)
DEFINE_LIST_FREE(orch_event_list, orch_event_clear)
DEFINE_LIST_FREE(orch_gpu_row_list, orch_gpu_row_clear)
DEFINE_LIST_FREE(orch_template_version_list, orch_template_version_clear)

/* ---- argument checks --------------------------------------------------------- */

static int require(const char *value, const char *what, hd_error *err)
{
        if (!value || !*value)
                return hd_error_set(err, HD_E_INVALID, "%s is required", what);
        return 0;
}

static bool kind_valid(const char *kind)
{
        size_t n = kind ? strlen(kind) : 0;

        return n >= 1 && n <= 32 && strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789_.") == n;
}

static int64_t now(void)
{
        return (int64_t)time(NULL);
}

/* ---- open / close ------------------------------------------------------------ */

orch_store *orch_store_open(const char *location, hd_error *err)
{
        if (require(location, "the store's location", err) < 0)
                return NULL;
        if (strncmp(location, "postgres://", 11) == 0 ||
            strncmp(location, "postgresql://", 13) == 0) {
                hd_error_set(err, HD_E_INVALID,
                             "store %s: this hostd has no PostgreSQL backend; give a file "
                             "path for the embedded sqlite store",
                             location);
                return NULL;
        }
        return orch_store_sqlite_open(location, err);
}

void orch_store_close(orch_store *st)
{
        if (st)
                st->ops->close(st);
}

int orch_store_schema_version(orch_store *st)
{
        return st->ops->schema_version(st);
}

/* ---- images ------------------------------------------------------------------ */

int orch_store_image_insert(orch_store *st, const orch_image *img, hd_error *err)
{
        orch_image row = *img;

        if (require(img->name, "an image's name", err) < 0 ||
            require(img->format, "an image's format", err) < 0 ||
            require(img->sha256, "an image's sha256", err) < 0)
                return -1;
        if (!row.imported_at)
                row.imported_at = now();
        return st->ops->image_insert(st, &row, err);
}

orch_image *orch_store_image_get(orch_store *st, const char *name, hd_error *err)
{
        orch_image *img;

        if (require(name, "an image's name", err) < 0)
                return NULL;
        img = hd_malloc0(sizeof(*img));
        if (st->ops->image_get(st, name, img, err) < 0) {
                orch_image_free(img);
                return NULL;
        }
        return img;
}

int orch_store_image_list(orch_store *st, orch_image_list *out, hd_error *err)
{
        *out = (orch_image_list){0};
        return st->ops->image_list(st, out, err);
}

int orch_store_image_delete(orch_store *st, const char *name, hd_error *err)
{
        if (require(name, "an image's name", err) < 0)
                return -1;
        return st->ops->image_delete(st, name, err);
}

/* ---- template versions ------------------------------------------------------- */

int orch_store_template_push(orch_store *st, const orch_template_version *v, bool *created,
                             hd_error *err)
{
        orch_template_version row = *v;
        bool dummy;

        if (require(v->name, "a template's name", err) < 0 ||
            require(v->hash, "a template version's hash", err) < 0 ||
            require(v->canonical_json, "a template version's JSON", err) < 0)
                return -1;
        if (!row.pushed_at)
                row.pushed_at = now();
        return st->ops->template_push(st, &row, created ? created : &dummy, err);
}

orch_template_version *orch_store_template_get(orch_store *st, const char *name,
                                               const char *hash, hd_error *err)
{
        orch_template_version *v;

        if (require(name, "a template's name", err) < 0)
                return NULL;
        v = hd_malloc0(sizeof(*v));
        if (st->ops->template_get(st, name, hash, v, err) < 0) {
                orch_template_version_free(v);
                return NULL;
        }
        return v;
}

int orch_store_template_versions(orch_store *st, const char *name,
                                 orch_template_version_list *out, hd_error *err)
{
        *out = (orch_template_version_list){0};
        if (require(name, "a template's name", err) < 0 ||
            st->ops->template_list(st, name, out, err) < 0)
                return -1;
        if (out->count == 0)
                return hd_error_set(err, HD_E_NOT_FOUND, "no template named %s", name);
        return 0;
}

int orch_store_template_list(orch_store *st, orch_template_version_list *out, hd_error *err)
{
        *out = (orch_template_version_list){0};
        return st->ops->template_list(st, NULL, out, err);
}

int orch_store_template_delete(orch_store *st, const char *name, hd_error *err)
{
        if (require(name, "a template's name", err) < 0)
                return -1;
        return st->ops->template_delete(st, name, err);
}

/* ---- workspaces -------------------------------------------------------------- */

orch_workspace *orch_store_workspace_create(orch_store *st, const orch_workspace *spec,
                                            hd_error *err)
{
        return orch_store_workspace_create_admit(st, spec, NULL, err);
}

orch_workspace *orch_store_workspace_create_admit(orch_store *st, const orch_workspace *spec,
                                                  const orch_admission *adm, hd_error *err)
{
        char id[ORCH_WS_ID_LEN + 1];
        orch_workspace row = {0};
        int64_t t = now();

        if (require(spec->name, "a workspace's name", err) < 0 ||
            require(spec->owner, "a workspace's owner", err) < 0 ||
            require(spec->image, "a workspace's image", err) < 0)
                return NULL;
        if (!spec->vcpus || !spec->memory_mib || !spec->disk_gib) {
                hd_error_set(err, HD_E_INVALID,
                             "workspace %s: vcpus, memory and disk must be above zero",
                             spec->name);
                return NULL;
        }
        if (orch_gpu_request_check(spec, err) < 0 || orch_ws_new_id(id, err) < 0)
                return NULL;
        /* Only the fields a creator may choose; the rest is the store's. */
        row.id = id;
        row.name = spec->name;
        row.owner = spec->owner;
        row.image = spec->image;
        row.template_name = spec->template_name;
        row.template_version = spec->template_version;
        row.vcpus = spec->vcpus;
        row.memory_mib = spec->memory_mib;
        row.disk_gib = spec->disk_gib;
        row.ssh_user = spec->ssh_user;
        row.agent_token_hash = spec->agent_token_hash;
        row.gpu_count = spec->gpu_count;
        row.gpu_model = spec->gpu_model;
        row.gpu_numa = spec->gpu_numa;
        row.state = ORCH_WS_PENDING;
        row.created_at = row.updated_at = row.state_changed_at = t;
        if (orch_store_committed(st, st->ops->ws_insert(st, &row, adm, err)) < 0)
                return NULL;
        return orch_store_workspace_get(st, id, err);
}

static orch_workspace *ws_get(orch_store *st, orch_ws_key key, const char *value,
                              hd_error *err)
{
        orch_workspace *ws;

        if (require(value, key == ORCH_WS_BY_ID ? "a workspace's id" : "a workspace's name",
                    err) < 0)
                return NULL;
        ws = hd_malloc0(sizeof(*ws));
        if (st->ops->ws_get(st, key, value, ws, err) < 0) {
                orch_workspace_free(ws);
                return NULL;
        }
        return ws;
}

orch_workspace *orch_store_workspace_get(orch_store *st, const char *id, hd_error *err)
{
        return ws_get(st, ORCH_WS_BY_ID, id, err);
}

orch_workspace *orch_store_workspace_get_by_name(orch_store *st, const char *name,
                                                 hd_error *err)
{
        return ws_get(st, ORCH_WS_BY_NAME, name, err);
}

orch_workspace *orch_store_workspace_find(orch_store *st, const char *id_or_name,
                                          hd_error *err)
{
        hd_error e = {0};
        orch_workspace *ws;

        if (orch_ws_id_valid(id_or_name)) {
                ws = ws_get(st, ORCH_WS_BY_ID, id_or_name, &e);
                if (ws || e.code != HD_E_NOT_FOUND) {
                        if (!ws && err)
                                *err = e;
                        return ws;
                }
        }
        ws = ws_get(st, ORCH_WS_BY_NAME, id_or_name, err);
        if (!ws && err && err->code == HD_E_NOT_FOUND)
                hd_error_set(err, HD_E_NOT_FOUND, "no workspace has the id or name '%.100s'",
                             id_or_name ? id_or_name : "");
        return ws;
}

int orch_store_workspace_list(orch_store *st, const orch_ws_filter *filter,
                              orch_workspace_list *out, hd_error *err)
{
        orch_ws_filter f = filter ? *filter : (orch_ws_filter){0};

        *out = (orch_workspace_list){0};
        if (f.states == ORCH_WS_ANY)
                f.states = ((1u << ORCH_WS__STATE_COUNT) - 1) & ~ORCH_WS_BIT(ORCH_WS_DELETED);
        return st->ops->ws_list(st, &f, out, err);
}

int orch_store_workspace_update(orch_store *st, const char *id, const orch_ws_update *u,
                                hd_error *err)
{
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        return st->ops->ws_update(st, id, u, now(), err);
}

int orch_store_transition(orch_store *st, const char *id, unsigned expected_from,
                          orch_ws_state to, const char *reason, hd_error *err)
{
        return orch_store_transition_admit(st, id, expected_from, to, reason, NULL, err);
}

int orch_store_transition_admit(orch_store *st, const char *id, unsigned expected_from,
                                orch_ws_state to, const char *reason, const orch_admission *adm,
                                hd_error *err)
{
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        if ((unsigned)to >= ORCH_WS__STATE_COUNT)
                return hd_error_set(err, HD_E_INTERNAL, "workspace %s: no state number %d", id,
                                    (int)to);
        if (adm && to != ORCH_WS_STARTING)
                return hd_error_set(err, HD_E_INTERNAL,
                                    "workspace %s: admission is for a move to starting, not to %s", id,
                                    orch_ws_state_name(to));
        return orch_store_committed(st, st->ops->ws_transition(st, id, expected_from, to, reason, adm,
                                                               now(), err));
}

void orch_ws_policy_clear(orch_ws_policy *p)
{
        if (!p)
                return;
        free(p->state);
        *p = (orch_ws_policy){0};
}

int orch_store_policy_get(orch_store *st, const char *id, orch_ws_policy *out, hd_error *err)
{
        *out = (orch_ws_policy){0};
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        return st->ops->policy_get(st, id, out, err);
}

int orch_store_policy_set(orch_store *st, const char *id, const orch_ws_policy *p,
                          hd_error *err)
{
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        return st->ops->policy_set(st, id, p, now(), err);
}

static const char *const startup_names[ORCH_STARTUP__COUNT] = {
        [ORCH_STARTUP_PENDING] = "pending",     [ORCH_STARTUP_RUNNING] = "running",
        [ORCH_STARTUP_SUCCEEDED] = "succeeded", [ORCH_STARTUP_FAILED] = "failed",
        [ORCH_STARTUP_TIMED_OUT] = "timed_out",
};

const char *orch_startup_status_name(orch_startup_status s)
{
        return (unsigned)s < ORCH_STARTUP__COUNT ? startup_names[s] : NULL;
}

int orch_startup_status_from_name(const char *name, orch_startup_status *out, hd_error *err)
{
        for (int i = 0; i < ORCH_STARTUP__COUNT; i++)
                if (name && strcmp(name, startup_names[i]) == 0) {
                        *out = (orch_startup_status)i;
                        return 0;
                }
        return hd_error_set(err, HD_E_INVALID, "'%.32s' is not a startup script status", name ? name : "");
}

void orch_ws_startup_clear(orch_ws_startup *s)
{
        if (!s)
                return;
        free(s->output);
        free(s->note);
        *s = (orch_ws_startup){0};
}

int orch_store_startup_get(orch_store *st, const char *id, bool with_output, orch_ws_startup *out,
                           hd_error *err)
{
        *out = (orch_ws_startup){.exit_status = -1};
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        return st->ops->startup_get(st, id, with_output, out, err);
}

int orch_store_startup_set(orch_store *st, const char *id, const orch_ws_startup *s, hd_error *err)
{
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        if (!orch_startup_status_name(s->status))
                return hd_error_set(err, HD_E_INTERNAL, "workspace %s: no startup status number %d", id,
                                    (int)s->status);
        return st->ops->startup_set(st, id, s, now(), err);
}

int orch_store_workspace_purge(orch_store *st, const char *id, hd_error *err)
{
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        return orch_store_committed(st, st->ops->ws_purge(st, id, now(), err));
}

/* ---- event log --------------------------------------------------------------- */

int orch_store_event_add(orch_store *st, const char *id, const char *kind,
                         const char *reason, const char *detail_json, hd_error *err)
{
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        if (!kind_valid(kind))
                return hd_error_set(err, HD_E_INVALID,
                                    "event kind '%.40s' must be 1-32 of a-z, 0-9, '_' and '.'",
                                    kind ? kind : "");
        return orch_store_committed(st, st->ops->event_add(st, id, kind, reason, detail_json, now(),
                                                           err));
}

int orch_store_event_list(orch_store *st, const char *id, int64_t after_id, size_t limit,
                          orch_event_list *out, hd_error *err)
{
        *out = (orch_event_list){0};
        if (require(id, "a workspace's id", err) < 0)
                return -1;
        return st->ops->event_list(st, id, after_id, limit, out, err);
}

int orch_store_event_feed(orch_store *st, int64_t after_id, size_t limit, orch_event_list *out,
                          hd_error *err)
{
        *out = (orch_event_list){0};
        return st->ops->event_list(st, NULL, after_id, limit, out, err);
}

int orch_store_event_last_id(orch_store *st, int64_t *out, hd_error *err)
{
        *out = 0;
        return st->ops->event_last_id(st, out, err);
}

void orch_store_on_commit(orch_store *st, void (*fn)(void *ctx), void *ctx)
{
        st->on_commit = fn;
        st->on_commit_ctx = ctx;
}

int orch_store_committed(orch_store *st, int r)
{
        if (r == 0 && st->on_commit)
                st->on_commit(st->on_commit_ctx);
        return r;
}

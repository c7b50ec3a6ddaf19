/* agentlink.c — hostd's end of the agent protocol (docs/agent-protocol.md):
 * connect to the agent socket of each running workspace, check the agent's
 * token, record what it reports (heartbeats, the startup script's run), move
 * the workspace to ready once cloud-init has finished and an address is
 * known, and fail workspaces whose agent never says hello. One thread calls orch_agents_poll in a loop. */
#include "orchestrator/service-internal.h"

#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64 * 1024)
#define MAX_CONNS 1024

typedef struct agent_conn {
        char *id;
        int fd;
        hd_buf in;
        bool hello_ok, refused, cloud_ready, has_address;
        char *cloud_reason;   /* cloud-init errors, shown as the ready reason */
        unsigned vcpus;       /* the domain's, for the idle engine */
} agent_conn;

#define MAX_REFUSED 64

struct orch_agents {
        agent_conn conns[MAX_CONNS];
        size_t n;
        /* Workspaces whose agent hello was refused, so the log says it once. */
        char *refused[MAX_REFUSED];
        size_t n_refused;
};

typedef struct link_ctx {
        orch_service *svc;
        struct orch_agents *agents;
        void (*report)(void *ctx, const char *line);
        void *ctx;
} link_ctx;

__attribute__((format(printf, 2, 3))) static void say(const link_ctx *l, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        if (!l->report)
                return;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        l->report(l->ctx, line);
}

static void conn_close(struct orch_agents *a, size_t i)
{
        agent_conn *c = &a->conns[i];

        close(c->fd);
        hd_buf_free(&c->in);
        free(c->id);
        free(c->cloud_reason);
        a->conns[i] = a->conns[--a->n];
}

static agent_conn *conn_find(struct orch_agents *a, const char *id)
{
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->conns[i].id, id) == 0)
                        return &a->conns[i];
        return NULL;
}

static int connect_agent(orch_service *svc, const char *id)
{
        _cleanup_free_ char *path = orch_agent_socket_path(svc, id);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -1;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static void send_line(agent_conn *c, json_t *msg)
{
        char *text = json_dumps(msg, JSON_COMPACT);

        json_decref(msg);
        if (!text)
                return;
        /* Short messages to a local socket: a failed write shows up as EOF later. */
        if (write(c->fd, text, strlen(text)) >= 0)
                (void)!write(c->fd, "\n", 1);
        free(text);
}

/* The heartbeat's addresses as a JSON array of strings, IPv4 first. */
static char *addresses_json(json_t *hb)
{
        json_t *list = json_array(), *a;
        json_t *addrs = json_object_get(hb, "addresses");
        size_t i;
        char *text;

        for (int pass = 0; pass < 2; pass++)
                json_array_foreach(addrs, i, a) {
                        const char *fam = json_string_value(json_object_get(a, "family"));
                        const char *ip = json_string_value(json_object_get(a, "address"));
                        if (!fam || !ip || strlen(ip) > 64)
                                continue;
                        if ((pass == 0 && strcmp(fam, "inet") == 0) || (pass == 1 && strcmp(fam, "inet6") == 0))
                                json_array_append_new(list, json_string(ip));
                }
        text = json_dumps(list, JSON_COMPACT);
        json_decref(list);
        return text;
}

/* True the first time id is refused (then remembered). */
static bool first_refusal(struct orch_agents *a, const char *id)
{
        for (size_t i = 0; i < a->n_refused; i++)
                if (strcmp(a->refused[i], id) == 0)
                        return false;
        if (a->n_refused == MAX_REFUSED)
                free(a->refused[--a->n_refused]);
        memmove(a->refused + 1, a->refused, a->n_refused * sizeof(char *));
        a->refused[0] = hd_strdup(id);
        a->n_refused++;
        return true;
}

static void on_hello(const link_ctx *l, agent_conn *c, json_t *msg)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = orch_store_workspace_get(l->svc->store, c->id, NULL);
        const char *wid = json_string_value(json_object_get(msg, "workspace_id"));
        const char *token = json_string_value(json_object_get(msg, "token"));
        const char *version = json_string_value(json_object_get(msg, "agent_version"));
        json_int_t proto = json_integer_value(json_object_get(msg, "proto"));
        const char *problem = NULL;

        if (proto != 1)
                problem = "unsupported protocol version";
        else if (!ws || !wid || strcmp(wid, c->id) != 0)
                problem = "wrong workspace id";
        else if (!orch_token_matches(token, ws->agent_token_hash))
                problem = "wrong token";
        if (problem) {
                /* Say why, then hang up (docs/agent-protocol.md); log it once. */
                if (first_refusal(l->agents, c->id)) {
                        say(l, "workspace %s: agent hello refused: %s", c->id, problem);
                        orch_store_event_add(l->svc->store, c->id, "agent_refused", problem, NULL, NULL);
                }
                c->refused = true;
                send_line(c, json_pack("{s:s,s:s}", "type", "error", "message", problem));
                return;
        }
        c->hello_ok = true;
        send_line(c, json_pack("{s:s,s:i}", "type", "welcome", "proto", 1));
        orch_store_event_add(l->svc->store, c->id, "agent_hello", version ? version : "", NULL, NULL);
        say(l, "workspace %s (%s): agent %s said hello", ws->name, c->id, version ? version : "?");
}

static void on_ready(const link_ctx *l, agent_conn *c, json_t *msg)
{
        json_t *ci = json_object_get(msg, "cloud_init");
        const char *status = json_string_value(json_object_get(ci, "status"));
        json_t *errors = json_object_get(ci, "errors");

        c->cloud_ready = true;
        free(c->cloud_reason);
        c->cloud_reason = NULL;
        if (status && strcmp(status, "error") == 0) {
                char *e = json_dumps(errors, JSON_COMPACT);
                c->cloud_reason = hd_asprintf("cloud-init finished with errors: %.400s", e ? e : "?");
                free(e);
        }
}

static void on_heartbeat(const link_ctx *l, agent_conn *c, json_t *msg, const char *line)
{
        _cleanup_free_ char *addrs = addresses_json(msg);
        orch_ws_update u = {.last_heartbeat = line, .ip_addresses = addrs};

        c->has_address = addrs && strcmp(addrs, "[]") != 0;
        orch_store_workspace_update(l->svc->store, c->id, &u, NULL);
        orch_policy_on_heartbeat(l->svc, c->id, msg, c->vcpus);
}

static void on_startup(const link_ctx *l, agent_conn *c, json_t *msg)
{
        char said[700];

        orch_startup_on_report(l->svc, c->id, msg, said, sizeof(said));
        if (said[0])
                say(l, "workspace %s: %s", c->id, said);
}

static void maybe_ready(const link_ctx *l, agent_conn *c)
{
        if (!c->cloud_ready || !c->has_address)
                return;
        if (orch_store_transition(l->svc->store, c->id, ORCH_WS_BIT(ORCH_WS_RUNNING), ORCH_WS_READY,
                                  c->cloud_reason, NULL) == 0)
                say(l, "workspace %s: ready", c->id);
}

static void handle_line(const link_ctx *l, agent_conn *c, const char *line)
{
        json_t *msg = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        const char *type = json_string_value(json_object_get(msg, "type"));

        if (!type) {
                json_decref(msg);
                return;
        }
        if (strcmp(type, "hello") == 0)
                on_hello(l, c, msg);
        else if (c->hello_ok && strcmp(type, "ready") == 0)
                on_ready(l, c, msg);
        else if (c->hello_ok && strcmp(type, "heartbeat") == 0)
                on_heartbeat(l, c, msg, line);
        else if (c->hello_ok && strcmp(type, "startup") == 0)
                on_startup(l, c, msg);
        if (c->hello_ok)
                maybe_ready(l, c);
        json_decref(msg);
}

/* Read what is there; split into lines. false when the connection ended. */
static bool read_conn(const link_ctx *l, agent_conn *c)
{
        char chunk[8192];

        for (;;) {
                ssize_t n = read(c->fd, chunk, sizeof(chunk));
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR;
                if (n == 0)
                        return false;
                hd_buf_append_len(&c->in, chunk, (size_t)n);
                for (char *nl; c->in.data && (nl = memchr(c->in.data, '\n', c->in.len));) {
                        size_t len = (size_t)(nl - c->in.data);
                        *nl = '\0';
                        if (len <= LINE_MAX_BYTES)
                                handle_line(l, c, c->in.data);
                        memmove(c->in.data, nl + 1, c->in.len - len - 1);
                        c->in.len -= len + 1;
                        c->in.data[c->in.len] = '\0';
                }
                if (c->refused)
                        return false;
                if (c->in.len > LINE_MAX_BYTES)
                        return false; /* a line without end: drop the connection */
        }
}

/* A running workspace whose agent has not said hello in time is failed. */
static void check_hello_timeout(const link_ctx *l, const orch_workspace *ws, const agent_conn *c)
{
        orch_service *svc = l->svc;
        _cleanup_free_ char *log = NULL, *reason = NULL;

        if (ws->state != ORCH_WS_RUNNING || (c && c->hello_ok))
                return;
        /* Heartbeats since it started running mean the agent did say hello,
         * to this hostd or to one before a restart: only a reconnect is due. */
        if (ws->last_heartbeat_at >= ws->state_changed_at)
                return;
        if (time(NULL) - ws->state_changed_at < (time_t)svc->p.agent_hello_timeout)
                return;
        log = orch_console_log_path(svc, ws->id);
        reason = hd_asprintf("the guest agent did not say hello within %u s of boot "
                             "(the guest may not have booted; see its console log %s)",
                             svc->p.agent_hello_timeout, log);
        orch_virt_destroy(svc->virt, ws->id, NULL);
        orch_ws_fail(svc, ws->id, reason);
        say(l, "workspace %s (%s): %s", ws->name, ws->id, reason);
}

void orch_agents_poll(orch_service *svc, int timeout_ms, void (*report)(void *ctx, const char *line), void *ctx)
{
        link_ctx l = {.svc = svc, .report = report, .ctx = ctx};
        orch_ws_filter f = {.states = ORCH_WS_BIT(ORCH_WS_RUNNING) | ORCH_WS_BIT(ORCH_WS_READY)};
        orch_workspace_list live = {0};
        struct orch_agents *a;
        struct pollfd pfd[MAX_CONNS];

        if (!svc->agents)
                svc->agents = hd_malloc0(sizeof(*svc->agents));
        a = svc->agents;
        l.agents = a;
        if (orch_store_workspace_list(svc->store, &f, &live, NULL) == 0) {
                /* Drop connections of workspaces no longer running. */
                for (size_t i = a->n; i-- > 0;) {
                        bool keep = false;
                        for (size_t k = 0; k < live.count && !keep; k++)
                                keep = strcmp(live.items[k].id, a->conns[i].id) == 0;
                        if (!keep)
                                conn_close(a, i);
                }
                for (size_t k = 0; k < live.count; k++) {
                        const orch_workspace *ws = &live.items[k];
                        agent_conn *c = conn_find(a, ws->id);
                        int fd;
                        if (!c && a->n < MAX_CONNS && (fd = connect_agent(svc, ws->id)) >= 0) {
                                c = &a->conns[a->n++];
                                *c = (agent_conn){.id = hd_strdup(ws->id), .fd = fd, .vcpus = ws->vcpus};
                        }
                        check_hello_timeout(&l, ws, c);
                }
                orch_workspace_list_free(&live);
        }
        orch_policy_sweep(svc, report, ctx);
        for (size_t i = 0; i < a->n; i++)
                pfd[i] = (struct pollfd){.fd = a->conns[i].fd, .events = POLLIN};
        if (poll(pfd, a->n, timeout_ms) <= 0)
                return;
        for (size_t i = a->n; i-- > 0;)
                if (pfd[i].revents && !read_conn(&l, &a->conns[i]))
                        conn_close(a, i);
}

void orch_agents_close(orch_service *svc)
{
        struct orch_agents *a = svc->agents;

        if (!a)
                return;
        while (a->n > 0)
                conn_close(a, a->n - 1);
        for (size_t i = 0; i < a->n_refused; i++)
                free(a->refused[i]);
        free(a);
        svc->agents = NULL;
}

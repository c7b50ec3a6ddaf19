/* events.c — GET /v1/events: the workspace events the caller may see, as a
 * server-sent event stream that stays open (docs/events.md).
 *
 * A stream subscribes to the orchestrator's event bus (orchestrator/events.h)
 * with the caller's visibility as its filter, replays the log from the
 * store first when the client names the last event it has (Last-Event-ID or
 * ?since=), then sends what the bus hands it.
 *
 * No thread waits on a stream. libmicrohttpd's content reader returns what
 * is ready; with nothing to send it suspends the connection
 * (MHD_suspend_connection, the server runs with MHD_ALLOW_SUSPEND_RESUME)
 * and returns 0, so the pool's threads keep serving requests. One ticker
 * thread resumes a suspended stream when the bus woke it, when its
 * heartbeat is due, when its client hung up (MHD does not watch a suspended
 * socket; the ticker polls them each second), or when the server stops.
 *
 * Suspend and resume are paired exactly: a reader marks its stream
 * `parked` only after MHD_suspend_connection returned, and whoever turns
 * `parked` off (under the registry's lock) resumes it, once. A wake that
 * comes between the reader's last look and its suspend is seen right after
 * the suspend, and the reader resumes its own connection. No lock of ours is
 * held across a call into libmicrohttpd, and none of MHD's callbacks into
 * this file waits for a lock held across one. Lock order: the bus's, then the
 * registry's (the wake callback); never the other way. */
#include "api/events.h"

#include "orchestrator/events.h"
#include "orchestrator/service.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS 3000          /* how long a client waits before reconnecting */
#define QUEUE_LEN 256          /* events a stream may fall behind before it must resync */
#define REPLAY_BATCH 64        /* log rows read per reader call while replaying */
#define DRAIN_BATCH 64         /* queued events formatted per reader call */
#define CLOSE_GRACE_S 2        /* how long a stopping server lets streams end cleanly */
#define BLOCK_SIZE 4096

typedef struct api_stream api_stream;

struct api_streams {
        pthread_mutex_t lock;
        pthread_cond_t tick;   /* wakes the ticker */
        pthread_cond_t gone;   /* a stream ended */
        pthread_t ticker;
        bool ticker_running, stop, closing;
        unsigned max, count;
        api_stream *head;
        struct MHD_Connection **resume; /* the ticker's scratch lists, max entries each */
        struct pollfd *fds;
        api_stream **polled;
};

struct api_stream {
        api_streams *reg;
        api_stream *prev, *next;
        struct MHD_Connection *conn;
        int fd;                        /* the connection's socket, to see a client leave */
        orch_sub *sub;
        orch_store *store;
        api_request who;               /* the caller only: what api_caller_sees reads */
        char workspace[API_NAME_MAX];  /* ?workspace=: an id or a name; "" for all */
        int64_t replay_after, replay_until; /* replaying while after < until */
        int64_t last_id;               /* the last event sent */
        hd_buf out;                    /* formatted, not yet given to MHD */
        size_t out_pos;
        bool ended;                    /* end once out is sent */
        /* Under reg->lock: */
        bool wake;                     /* something may be ready */
        bool parked;                   /* suspended, and not yet resumed */
        bool hung_up;                  /* the client left while we were parked */
        double last_write;             /* monotonic seconds */
};

static double mono_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the registry and its ticker ------------------------------------------------ */

static bool heartbeat_due(const api_stream *s, double now)
{
        return now - s->last_write >= API_EVENT_HEARTBEAT_S;
}

/* MHD does not watch a suspended connection: mark the parked streams whose
 * client hung up (their sockets stay open while they are parked). With
 * reg->lock held. */
static void find_hang_ups(api_streams *reg)
{
        nfds_t n = 0;

        for (api_stream *s = reg->head; s; s = s->next) {
                if (!s->parked || s->fd < 0)
                        continue;
                reg->fds[n] = (struct pollfd){.fd = s->fd, .events = POLLRDHUP};
                reg->polled[n++] = s;
        }
        if (n == 0 || poll(reg->fds, n, 0) <= 0)
                return;
        for (nfds_t i = 0; i < n; i++)
                if (reg->fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
                        reg->polled[i]->hung_up = true;
}

/* Resume the parked streams that have something to do; a last pass when
 * told to stop (every stream is closing then). */
static void *ticker_main(void *p)
{
        api_streams *reg = p;

        pthread_mutex_lock(&reg->lock);
        for (;;) {
                double now = mono_now();
                bool stopping = reg->stop;
                size_t n = 0;
                struct timespec until;

                find_hang_ups(reg);
                for (api_stream *s = reg->head; s; s = s->next) {
                        if (s->parked && (s->wake || s->hung_up || reg->closing || heartbeat_due(s, now))) {
                                s->parked = false;
                                reg->resume[n++] = s->conn;
                        }
                }
                if (n > 0) {
                        pthread_mutex_unlock(&reg->lock);
                        /* Still suspended (only we resume them): the connections are alive. */
                        for (size_t i = 0; i < n; i++)
                                MHD_resume_connection(reg->resume[i]);
                        pthread_mutex_lock(&reg->lock);
                        continue;
                }
                if (stopping)
                        break;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&reg->tick, &reg->lock, &until);
        }
        pthread_mutex_unlock(&reg->lock);
        return NULL;
}

api_streams *api_streams_new(unsigned max)
{
        api_streams *reg = hd_malloc0(sizeof(*reg));

        reg->max = max;
        reg->resume = hd_malloc0((max ? max : 1) * sizeof(*reg->resume));
        reg->fds = hd_malloc0((max ? max : 1) * sizeof(*reg->fds));
        reg->polled = hd_malloc0((max ? max : 1) * sizeof(*reg->polled));
        pthread_mutex_init(&reg->lock, NULL);
        pthread_cond_init(&reg->tick, NULL);
        {
                pthread_condattr_t a;
                pthread_condattr_init(&a);
                pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
                pthread_cond_init(&reg->gone, &a);
                pthread_condattr_destroy(&a);
        }
        reg->ticker_running = pthread_create(&reg->ticker, NULL, ticker_main, reg) == 0;
        return reg;
}

void api_streams_close(api_streams *reg)
{
        struct timespec until;

        if (!reg)
                return;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += CLOSE_GRACE_S;
        pthread_mutex_lock(&reg->lock);
        reg->closing = true;
        pthread_cond_broadcast(&reg->tick);
        while (reg->count > 0 && reg->ticker_running)
                if (pthread_cond_timedwait(&reg->gone, &reg->lock, &until) == ETIMEDOUT)
                        break;
        reg->stop = true;
        pthread_cond_broadcast(&reg->tick);
        pthread_mutex_unlock(&reg->lock);
        if (reg->ticker_running)
                pthread_join(reg->ticker, NULL);
        reg->ticker_running = false;
}

void api_streams_free(api_streams *reg)
{
        if (!reg)
                return;
        api_streams_close(reg);
        pthread_mutex_destroy(&reg->lock);
        pthread_cond_destroy(&reg->tick);
        pthread_cond_destroy(&reg->gone);
        free(reg->resume);
        free(reg->fds);
        free(reg->polled);
        free(reg);
}

/* ---- one stream ------------------------------------------------------------------ */

/* The filter: what the caller may see, of the workspace asked for. */
static bool stream_wants(const orch_event *ev, void *ctx)
{
        const api_stream *s = ctx;

        if (s->workspace[0] && strcmp(s->workspace, ev->workspace_id ? ev->workspace_id : "") != 0 &&
            strcmp(s->workspace, ev->name ? ev->name : "") != 0)
                return false;
        return api_caller_sees(&s->who, ev->owner, ev->workspace_id, ev->name, false);
}

/* In the publisher's thread, the bus locked: note it, let the ticker act. */
static void stream_wake(void *ctx)
{
        api_stream *s = ctx;

        pthread_mutex_lock(&s->reg->lock);
        s->wake = true;
        if (s->parked)
                pthread_cond_signal(&s->reg->tick);
        pthread_mutex_unlock(&s->reg->lock);
}

static void replay(api_stream *s)
{
        orch_event_list l = {0};
        hd_error err = {0};

        if (orch_store_event_feed(s->store, s->replay_after, REPLAY_BATCH, &l, &err) < 0) {
                _cleanup_free_ char *why = hd_asprintf("cannot read the event log: %s", err.message);
                api_sse_resync(&s->out, why, s->last_id);
                s->ended = true;
                return;
        }
        for (size_t i = 0; i < l.count && s->replay_after < s->replay_until; i++) {
                if (l.items[i].id > s->replay_until)
                        break;
                if (stream_wants(&l.items[i], s)) {
                        api_sse_workspace_event(&s->out, &l.items[i]);
                        s->last_id = l.items[i].id;
                }
                s->replay_after = l.items[i].id;
        }
        if (l.count < REPLAY_BATCH)
                s->replay_after = s->replay_until; /* the log has no more */
        orch_event_list_free(&l);
}

/* Format what is ready into s->out. */
static void fill(api_stream *s)
{
        api_streams *reg = s->reg;
        double now = mono_now();
        bool closing, beat, gone;

        pthread_mutex_lock(&reg->lock);
        s->wake = false; /* what follows looks at everything */
        closing = reg->closing;
        gone = s->hung_up;
        beat = heartbeat_due(s, now);
        pthread_mutex_unlock(&reg->lock);
        if (gone) {
                s->ended = true; /* nobody reads: end, and MHD closes the connection */
                return;
        }
        if (closing) {
                api_sse_comment(&s->out, "hostd is stopping");
                s->ended = true;
                return;
        }
        if (s->replay_after < s->replay_until)
                replay(s);
        else
                s->ended = api_sse_drain(s->sub, &s->out, DRAIN_BATCH, &s->last_id);
        if (s->out.len == 0 && beat)
                api_sse_comment(&s->out, "heartbeat");
        if (s->out.len > 0) {
                pthread_mutex_lock(&reg->lock);
                s->last_write = now;
                pthread_mutex_unlock(&reg->lock);
        }
}

/* Nothing to send: suspend until the ticker resumes us (see the top). */
static void park(api_stream *s)
{
        api_streams *reg = s->reg;
        bool resume_now;

        pthread_mutex_lock(&reg->lock);
        resume_now = s->wake || reg->closing;
        pthread_mutex_unlock(&reg->lock);
        if (resume_now)
                return; /* MHD calls again at once */
        MHD_suspend_connection(s->conn);
        pthread_mutex_lock(&reg->lock);
        resume_now = s->wake || reg->closing;
        s->parked = !resume_now;
        pthread_mutex_unlock(&reg->lock);
        if (resume_now)
                MHD_resume_connection(s->conn);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        api_stream *s = cls;
        size_t n;

        if (s->out_pos >= s->out.len) {
                hd_buf_reset(&s->out);
                s->out_pos = 0;
                if (!s->ended)
                        fill(s);
        }
        if (s->out_pos < s->out.len) {
                n = s->out.len - s->out_pos < max ? s->out.len - s->out_pos : max;
                memcpy(buf, s->out.data + s->out_pos, n);
                s->out_pos += n;
                return (ssize_t)n;
        }
        if (s->ended)
                return MHD_CONTENT_READER_END_OF_STREAM;
        park(s);
        return 0;
}

/* MHD is done with the response (the connection ended), or it was never queued. */
static void stream_free(void *cls)
{
        api_stream *s = cls;
        api_streams *reg = s->reg;

        orch_sub_close(s->sub); /* no wake for s after this */
        pthread_mutex_lock(&reg->lock);
        if (s->prev)
                s->prev->next = s->next;
        else
                reg->head = s->next;
        if (s->next)
                s->next->prev = s->prev;
        reg->count--;
        pthread_cond_broadcast(&reg->gone);
        pthread_mutex_unlock(&reg->lock);
        hd_buf_free(&s->out);
        free(s);
}

/* ---- the route ------------------------------------------------------------------- */

/* A decimal event id, or -1. */
static int64_t parse_id(const char *s)
{
        char *end;
        long long v;

        if (!s || !*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
                return -1;
        v = strtoll(s, &end, 10);
        return (int64_t)v;
}

void api_get_events(api_request *req)
{
        api_streams *reg = api_server_streams(req);
        const char *ws = api_query(req, "workspace");
        /* A reconnecting client's own header wins over the ?since= of its URL. */
        const char *since = api_header(req, "Last-Event-ID");
        int64_t after = -1, start = 0;
        api_stream *s;
        bool refused;

        if (!since || !*since)
                since = api_query(req, "since");
        if (since && (after = parse_id(since)) < 0) {
                api_reply_errorf(req, HD_E_INVALID, "since (or Last-Event-ID) must be an event id, a whole number; "
                                                    "got '%.40s'",
                                 since);
                return;
        }
        if (ws && (!*ws || strlen(ws) >= API_NAME_MAX)) {
                api_reply_errorf(req, HD_E_INVALID, "workspace must be a workspace's name or id (1 to %d characters)",
                                 API_NAME_MAX - 1);
                return;
        }
        s = hd_malloc0(sizeof(*s));
        s->reg = reg;
        s->fd = -1;
        s->who.caller = req->caller;
        s->who.method = req->method;
        s->store = api_store(req);
        snprintf(s->workspace, sizeof(s->workspace), "%s", ws ? ws : "");
        s->last_write = mono_now();

        pthread_mutex_lock(&reg->lock);
        refused = reg->closing || !reg->ticker_running || reg->count >= reg->max;
        if (!refused) {
                s->next = reg->head;
                if (reg->head)
                        reg->head->prev = s;
                reg->head = s;
                reg->count++;
        }
        pthread_mutex_unlock(&reg->lock);
        if (refused) {
                free(s);
                if (reg->max == 0 || !reg->ticker_running)
                        api_reply_errorf(req, HD_E_NO_RESOURCES, "this hostd serves no event streams "
                                                                 "(api_max_event_streams = 0)");
                else
                        api_reply_errorf(req, HD_E_NO_RESOURCES,
                                         "%u event streams are open, the most this hostd allows "
                                         "(api_max_event_streams); close one or try again later",
                                         reg->max);
                return;
        }
        s->sub = orch_events_subscribe(orch_service_events(api_service(req)),
                                       &(orch_sub_opts){.queue_len = QUEUE_LEN, .want = stream_wants,
                                                        .wake = stream_wake, .ctx = s},
                                       &start);
        if (after >= 0 && after < start) {
                s->replay_after = after;
                s->replay_until = start;
        }
        s->last_id = after > 0 ? after : start;
        /* The first bytes: the client knows it is subscribed once it reads them. */
        api_sse_retry(&s->out, RETRY_MS);
        req->stream = s;
        req->status = 200;
}

enum MHD_Result api_stream_queue(struct MHD_Connection *conn, api_request *req)
{
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        api_stream *s = req->stream;
        struct MHD_Response *resp;
        enum MHD_Result ret;

        req->stream = NULL;
        s->conn = conn;
        s->fd = info ? info->connect_fd : -1;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE, stream_read, s, stream_free);
        if (!resp) {
                stream_free(s);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        MHD_add_response_header(resp, "X-Request-Id", req->request_id);
        ret = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* events.c — the in-process publish/subscribe of workspace events
 * (events.h): the store's commit listener reads new rows of the event log
 * and fans each out to the subscribers' bounded queues.
 *
 * One mutex guards the subscriber list and every queue; a published event
 * is stored once and shared by the queues that hold it (a count of holders,
 * under the same mutex). A second mutex keeps readers of the log one at a
 * time, so events go out in the log's order whichever thread committed
 * them. */
#include "orchestrator/events.h"

#include "common/common.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define SYNC_BATCH 256

typedef struct shared_ev {
        unsigned holders; /* queues holding it (bus lock) */
        orch_event ev;
} shared_ev;

struct orch_events {
        orch_store *store;
        pthread_mutex_t lock;      /* subs, queues, last_id, closed */
        pthread_mutex_t sync_lock; /* one reader of the log at a time */
        int64_t last_id;           /* the newest event published */
        orch_sub *subs;
        bool closed;
};

struct orch_sub {
        orch_events *bus;
        orch_sub *prev, *next;
        shared_ev **ring;
        size_t cap, head, len;
        bool overflow;
        orch_sub_opts o;
        pthread_cond_t cond; /* a waiting orch_sub_next */
};

static char *dup_or_null(const char *s)
{
        return s ? hd_strdup(s) : NULL;
}

static void event_copy(orch_event *dst, const orch_event *src)
{
        *dst = (orch_event){
                .id = src->id,
                .time = src->time,
                .workspace_id = dup_or_null(src->workspace_id),
                .kind = dup_or_null(src->kind),
                .from_state = dup_or_null(src->from_state),
                .to_state = dup_or_null(src->to_state),
                .reason = dup_or_null(src->reason),
                .detail = dup_or_null(src->detail),
                .name = dup_or_null(src->name),
                .owner = dup_or_null(src->owner),
                .state = dup_or_null(src->state),
        };
}

static void shared_drop(shared_ev *s)
{
        if (--s->holders > 0)
                return;
        orch_event_clear(&s->ev);
        free(s);
}

static void bus_free(orch_events *bus)
{
        pthread_mutex_destroy(&bus->lock);
        pthread_mutex_destroy(&bus->sync_lock);
        free(bus);
}

static void sync_listener(void *ctx)
{
        orch_events_sync(ctx);
}

orch_events *orch_events_open(orch_store *st, hd_error *err)
{
        orch_events *bus = hd_malloc0(sizeof(*bus));

        if (st && orch_store_event_last_id(st, &bus->last_id, err) < 0) {
                free(bus);
                return NULL;
        }
        bus->store = st;
        pthread_mutex_init(&bus->lock, NULL);
        pthread_mutex_init(&bus->sync_lock, NULL);
        if (st)
                orch_store_on_commit(st, sync_listener, bus);
        return bus;
}

void orch_events_close(orch_events *bus)
{
        bool last;

        if (!bus)
                return;
        if (bus->store)
                orch_store_on_commit(bus->store, NULL, NULL);
        pthread_mutex_lock(&bus->lock);
        bus->closed = true;
        for (orch_sub *s = bus->subs; s; s = s->next) {
                pthread_cond_broadcast(&s->cond);
                if (s->o.wake)
                        s->o.wake(s->o.ctx);
        }
        last = !bus->subs;
        pthread_mutex_unlock(&bus->lock);
        if (last)
                bus_free(bus);
}

/* With the bus locked. */
static void fan_out(orch_events *bus, shared_ev *shared)
{
        for (orch_sub *s = bus->subs; s; s = s->next) {
                if (s->overflow || (s->o.want && !s->o.want(&shared->ev, s->o.ctx)))
                        continue;
                if (s->len == s->cap) {
                        s->overflow = true;
                } else {
                        s->ring[(s->head + s->len++) % s->cap] = shared;
                        shared->holders++;
                }
                pthread_cond_broadcast(&s->cond);
                if (s->o.wake)
                        s->o.wake(s->o.ctx);
        }
}

void orch_events_publish(orch_events *bus, const orch_event *ev)
{
        shared_ev *shared = hd_malloc0(sizeof(*shared));

        event_copy(&shared->ev, ev);
        shared->holders = 1; /* ours, until fanned out */
        pthread_mutex_lock(&bus->lock);
        if (!bus->closed && ev->id > bus->last_id) {
                bus->last_id = ev->id;
                fan_out(bus, shared);
        }
        shared_drop(shared);
        pthread_mutex_unlock(&bus->lock);
}

void orch_events_sync(orch_events *bus)
{
        orch_event_list l = {0};
        size_t n;
        int64_t after;

        if (!bus || !bus->store)
                return;
        pthread_mutex_lock(&bus->sync_lock);
        do {
                pthread_mutex_lock(&bus->lock);
                after = bus->last_id;
                pthread_mutex_unlock(&bus->lock);
                /* A failed read is retried by the next commit: nothing is lost. */
                if (orch_store_event_feed(bus->store, after, SYNC_BATCH, &l, NULL) < 0)
                        break;
                for (size_t i = 0; i < l.count; i++)
                        orch_events_publish(bus, &l.items[i]);
                n = l.count;
                orch_event_list_free(&l);
        } while (n == SYNC_BATCH);
        pthread_mutex_unlock(&bus->sync_lock);
}

orch_sub *orch_events_subscribe(orch_events *bus, const orch_sub_opts *o, int64_t *start_id)
{
        orch_sub *s = hd_malloc0(sizeof(*s));

        s->bus = bus;
        s->o = o ? *o : (orch_sub_opts){0};
        s->cap = s->o.queue_len ? s->o.queue_len : ORCH_SUB_QUEUE_DEFAULT;
        s->ring = hd_malloc0(s->cap * sizeof(*s->ring));
        pthread_cond_init(&s->cond, NULL);
        pthread_mutex_lock(&bus->lock);
        s->next = bus->subs;
        if (bus->subs)
                bus->subs->prev = s;
        bus->subs = s;
        if (start_id)
                *start_id = bus->last_id;
        pthread_mutex_unlock(&bus->lock);
        return s;
}

void orch_sub_close(orch_sub *s)
{
        orch_events *bus;
        bool free_bus;

        if (!s)
                return;
        bus = s->bus;
        pthread_mutex_lock(&bus->lock);
        if (s->prev)
                s->prev->next = s->next;
        else
                bus->subs = s->next;
        if (s->next)
                s->next->prev = s->prev;
        for (; s->len > 0; s->len--, s->head = (s->head + 1) % s->cap)
                shared_drop(s->ring[s->head]);
        free_bus = bus->closed && !bus->subs;
        pthread_mutex_unlock(&bus->lock);
        pthread_cond_destroy(&s->cond);
        free(s->ring);
        free(s);
        if (free_bus)
                bus_free(bus);
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts->tv_nsec >= 1000000000L) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000L;
        }
}

orch_sub_status orch_sub_next(orch_sub *s, unsigned timeout_ms, orch_event *out)
{
        orch_events *bus = s->bus;
        orch_sub_status st;
        struct timespec until;

        deadline_after(&until, timeout_ms);
        pthread_mutex_lock(&bus->lock);
        while (s->len == 0 && !s->overflow && !bus->closed && timeout_ms > 0)
                if (pthread_cond_timedwait(&s->cond, &bus->lock, &until) == ETIMEDOUT)
                        break;
        if (s->len > 0) {
                shared_ev *shared = s->ring[s->head];
                s->head = (s->head + 1) % s->cap;
                s->len--;
                event_copy(out, &shared->ev);
                shared_drop(shared);
                st = ORCH_SUB_EVENT;
        } else if (s->overflow) {
                st = ORCH_SUB_OVERFLOW;
        } else if (bus->closed) {
                st = ORCH_SUB_CLOSED;
        } else {
                st = ORCH_SUB_EMPTY;
        }
        pthread_mutex_unlock(&bus->lock);
        return st;
}

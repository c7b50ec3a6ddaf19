/* events.h — workspace events to whoever listens, as they are committed: an
 * in-process publish/subscribe fed by the store's event log (the API's
 * GET /v1/events is its subscriber; docs/events.md).
 *
 * The store calls the bus after each commit that logged events
 * (orch_store_on_commit); the bus reads what is new in the log, in the log's
 * order, and hands each event to every subscriber whose filter wants it.
 * Publishing never waits for a subscriber: each has a bounded queue, and one
 * that falls behind gets ORCH_SUB_OVERFLOW once, after the events it did
 * get, and nothing more; it catches up from the log itself
 * (orch_store_event_feed after the last id it took). */
#pragma once

#include "common/error.h"
#include "orchestrator/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orch_events orch_events;
typedef struct orch_sub orch_sub;

#define ORCH_SUB_QUEUE_DEFAULT 256

/* A bus fed by st, from the newest event the log has now; it becomes st's
 * commit listener. st NULL: a bus fed only by orch_events_publish (tests). */
orch_events *orch_events_open(orch_store *st, hd_error *err);
/* Stop: no more events; each open subscription gets ORCH_SUB_CLOSED once its
 * queue is drained, and the bus is freed with the last of them. NULL-safe. */
void orch_events_close(orch_events *bus);

/* Read what the store logged since the last event published and publish it
 * (the commit listener; safe from any thread, one reader at a time). */
void orch_events_sync(orch_events *bus);
/* Publish one event (copied); ids must increase. */
void orch_events_publish(orch_events *bus, const orch_event *ev);

/* Called in the publisher's thread with the bus locked: decide, set a flag
 * or signal, and return; never call back into the bus. */
typedef bool (*orch_sub_filter_fn)(const orch_event *ev, void *ctx);
typedef void (*orch_sub_wake_fn)(void *ctx);

typedef struct orch_sub_opts {
        size_t queue_len;        /* 0: ORCH_SUB_QUEUE_DEFAULT */
        orch_sub_filter_fn want; /* NULL: every event */
        orch_sub_wake_fn wake;   /* NULL: none; called when the queue gains an event,
                                  * overflows or the bus closes */
        void *ctx;               /* for want and wake */
} orch_sub_opts;

/* Subscribe to the events published from now on; *start_id (may be NULL)
 * gets the id of the last event published before: the log up to it is the
 * past (replay it from the store), everything after it comes here, with no
 * gap and no repeat. */
orch_sub *orch_events_subscribe(orch_events *bus, const orch_sub_opts *o, int64_t *start_id);
/* No wake or filter call for sub happens once this returns. NULL-safe. */
void orch_sub_close(orch_sub *sub);

typedef enum orch_sub_status {
        ORCH_SUB_EVENT,    /* *out filled (orch_event_clear it) */
        ORCH_SUB_EMPTY,    /* nothing within timeout_ms */
        ORCH_SUB_OVERFLOW, /* the queue overflowed: events after the last one taken were dropped */
        ORCH_SUB_CLOSED,   /* the bus closed */
} orch_sub_status;

/* The next event, waiting up to timeout_ms (0: do not wait). After
 * OVERFLOW or CLOSED it keeps answering the same. */
orch_sub_status orch_sub_next(orch_sub *sub, unsigned timeout_ms, orch_event *out);

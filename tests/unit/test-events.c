/* test-events.c — the workspace event feed and its publish/subscribe: the
 * store's log read across workspaces with each workspace's name, owner and
 * state; commits reaching subscribers in the log's order, whichever thread
 * made them; filters; many subscribers; a slow subscriber that neither
 * blocks the publisher nor the others and is told it overflowed; closing. */
#include "common/common.h"
#include "orchestrator/events.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

#include <pthread.h>
#include <time.h>

static char dir[] = "/tmp/hostd-test-events-XXXXXX";

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *make_ws(orch_store *st, const char *name, const char *owner)
{
        orch_workspace spec = {.name = (char *)name, .owner = (char *)owner, .image = (char *)"deb",
                               .vcpus = 1, .memory_mib = 512, .disk_gib = 1};
        orch_workspace *ws = orch_store_workspace_create(st, &spec, NULL);
        char *id = ws ? hd_strdup(ws->id) : NULL;

        orch_workspace_free(ws);
        return id;
}

static orch_store *open_store(const char *file)
{
        _cleanup_free_ char *path = hd_path_join(dir, file);
        orch_image img = {.name = (char *)"deb", .format = (char *)"qcow2", .sha256 = (char *)"ab",
                          .virtual_size = 1 << 30, .file_size = 1 << 20};
        orch_store *st = orch_store_open(path, NULL);

        if (st)
                orch_store_image_insert(st, &img, NULL);
        return st;
}

static void test_feed(void)
{
        orch_store *st = open_store("feed.db");
        _cleanup_free_ char *a = NULL, *b = NULL;
        orch_event_list l = {0};
        int64_t last = -1;

        if (!CHECK(st != NULL, "a store opens"))
                return;
        CHECK(orch_store_event_last_id(st, &last, NULL) == 0 && last == 0, "an empty log's newest id is 0");
        a = make_ws(st, "alpha", "alice");
        b = make_ws(st, "beta", "bob");
        orch_store_transition(st, a, ORCH_WS_ANY, ORCH_WS_PROVISIONING, NULL, NULL);
        orch_store_event_add(st, a, "lifetime_warning", "ends in 1h", NULL, NULL);
        orch_store_transition(st, a, ORCH_WS_ANY, ORCH_WS_FAILED, "disk full", NULL);
        orch_store_transition(st, b, ORCH_WS_ANY, ORCH_WS_DELETING, NULL, NULL);
        orch_store_transition(st, b, ORCH_WS_ANY, ORCH_WS_DELETED, NULL, NULL);
        orch_store_workspace_purge(st, b, NULL);

        CHECK(orch_store_event_feed(st, 0, 0, &l, NULL) == 0 && l.count == 7,
              "the feed has every workspace's events");
        if (l.count == 7) {
                bool ordered = true;
                for (size_t i = 1; i < l.count; i++)
                        ordered &= l.items[i].id > l.items[i - 1].id;
                CHECK(ordered, "oldest first, by id");
                CHECK(strcmp(l.items[0].kind, "created") == 0 && strcmp(l.items[0].name, "alpha") == 0 &&
                              strcmp(l.items[0].owner, "alice") == 0 && strcmp(l.items[0].state, "pending") == 0,
                      "a created event carries the workspace's name, owner and state");
                CHECK(strcmp(l.items[3].kind, "lifetime_warning") == 0 &&
                              strcmp(l.items[3].state, "provisioning") == 0 && !l.items[3].from_state,
                      "an event that changes no state carries the state the workspace was in then");
                CHECK(strcmp(l.items[4].state, "failed") == 0 && strcmp(l.items[4].from_state, "provisioning") == 0 &&
                              strcmp(l.items[4].reason, "disk full") == 0,
                      "a state change carries both states and its reason");
                CHECK(strcmp(l.items[6].name, "beta") == 0 && strcmp(l.items[6].owner, "bob") == 0 &&
                              strcmp(l.items[6].state, "deleted") == 0,
                      "a purged workspace's events keep its name and owner");
                last = l.items[6].id;
        }
        orch_event_list_free(&l);
        CHECK(orch_store_event_feed(st, 3, 2, &l, NULL) == 0 && l.count == 2,
              "the feed takes a limit");
        orch_event_list_free(&l);
        {
                int64_t newest = 0;
                orch_store_event_last_id(st, &newest, NULL);
                CHECK(newest == last, "the newest id is the last event's");
                CHECK(orch_store_event_feed(st, newest, 0, &l, NULL) == 0 && l.count == 0,
                      "nothing comes after the newest id");
        }
        orch_event_list_free(&l);
        orch_store_close(st);
}

/* ---- the bus over a store ---------------------------------------------------- */

static bool only_bob(const orch_event *ev, void *ctx)
{
        return ev->owner && strcmp(ev->owner, "bob") == 0;
}

static int wakes;

static void count_wake(void *ctx)
{
        __atomic_add_fetch((int *)ctx, 1, __ATOMIC_SEQ_CST);
}

static void test_commits_reach_subscribers(void)
{
        orch_store *st = open_store("bus.db");
        orch_events *bus = st ? orch_events_open(st, NULL) : NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *before = NULL;
        orch_sub *all, *bobs;
        int64_t start = -1, expect;
        orch_event ev = {0};
        char kinds[256] = "";

        if (!CHECK(bus != NULL, "a bus opens on a store"))
                return;
        before = make_ws(st, "early", "alice");
        orch_store_event_last_id(st, &expect, NULL);
        orch_sub_opts o_all = {.wake = count_wake, .ctx = &wakes};
        all = orch_events_subscribe(bus, &o_all, &start);
        CHECK(start == expect, "a subscription starts after the newest event already published");
        bobs = orch_events_subscribe(bus, &(orch_sub_opts){.want = only_bob}, NULL);

        a = make_ws(st, "alpha", "alice");
        b = make_ws(st, "beta", "bob");
        orch_store_transition(st, a, ORCH_WS_ANY, ORCH_WS_PROVISIONING, NULL, NULL);
        orch_store_event_add(st, b, "extended", "by bob", NULL, NULL);
        orch_store_transition(st, a, ORCH_WS_ANY, ORCH_WS_FAILED, "no disk", NULL);

        CHECK(__atomic_load_n(&wakes, __ATOMIC_SEQ_CST) == 5, "the subscriber is woken once per event");
        for (int64_t prev = start; orch_sub_next(all, 0, &ev) == ORCH_SUB_EVENT; orch_event_clear(&ev)) {
                if (ev.id <= prev)
                        strcat(kinds, "!order ");
                prev = ev.id;
                snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s:%s:%s ", ev.name, ev.kind,
                         ev.state);
        }
        CHECK_STR(kinds,
                  "alpha:created:pending beta:created:pending alpha:state:provisioning beta:extended:pending "
                  "alpha:state:failed ",
                  "each committed event arrives once, in the log's order, with its workspace's state");
        kinds[0] = '\0';
        while (orch_sub_next(bobs, 0, &ev) == ORCH_SUB_EVENT) {
                snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s:%s ", ev.name, ev.kind);
                orch_event_clear(&ev);
        }
        CHECK_STR(kinds, "beta:created beta:extended ", "a filter keeps only the events it wants");
        CHECK(orch_sub_next(all, 0, &ev) == ORCH_SUB_EMPTY, "with nothing new, next says empty at once");
        {
                double t0 = now_s();
                orch_sub_status s = orch_sub_next(all, 150, &ev);
                double took = now_s() - t0;
                CHECK(s == ORCH_SUB_EMPTY && took >= 0.14 && took < 2, "next waits up to its timeout");
        }
        orch_sub_close(bobs);
        orch_sub_close(all);
        orch_events_close(bus);
        orch_store_close(st);
}

/* Threads committing at once: the subscriber sees exactly the log, in order. */
typedef struct committer {
        orch_store *st;
        char name[16];
} committer;

static void *commit_many(void *p)
{
        committer *c = p;
        _cleanup_free_ char *id = make_ws(c->st, c->name, "alice");

        for (int i = 0; id && i < 20; i++)
                orch_store_event_add(c->st, id, "tick", NULL, NULL, NULL);
        return NULL;
}

static void test_threads_keep_log_order(void)
{
        orch_store *st = open_store("threads.db");
        orch_events *bus = st ? orch_events_open(st, NULL) : NULL;
        orch_sub *sub;
        pthread_t t[4];
        committer c[4];
        orch_event_list log = {0};
        orch_event ev = {0};
        int64_t start;
        size_t got = 0, same = 0;

        if (!CHECK(bus != NULL, "a bus opens on a store"))
                return;
        sub = orch_events_subscribe(bus, &(orch_sub_opts){.queue_len = 1000}, &start);
        for (int i = 0; i < 4; i++) {
                c[i].st = st;
                snprintf(c[i].name, sizeof(c[i].name), "ws%d", i);
                pthread_create(&t[i], NULL, commit_many, &c[i]);
        }
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        orch_store_event_feed(st, start, 0, &log, NULL);
        for (; orch_sub_next(sub, 0, &ev) == ORCH_SUB_EVENT; orch_event_clear(&ev), got++)
                if (got < log.count && ev.id == log.items[got].id)
                        same++;
        CHECK(log.count == 84 && got == log.count && same == got,
              "four threads committing at once: the subscriber gets exactly the log, in its order");
        orch_event_list_free(&log);
        orch_sub_close(sub);
        orch_events_close(bus);
        orch_store_close(st);
}

/* ---- fan-out without a store --------------------------------------------------- */

#define N_SUBS 50
#define N_EVENTS 2000

typedef struct reader {
        orch_sub *sub;
        size_t got;
        bool ordered;
} reader;

static void *read_all(void *p)
{
        reader *r = p;
        orch_event ev = {0};
        int64_t prev = 0;

        r->ordered = true;
        while (r->got < N_EVENTS && orch_sub_next(r->sub, 5000, &ev) == ORCH_SUB_EVENT) {
                r->ordered &= ev.id == prev + 1;
                prev = ev.id;
                r->got++;
                orch_event_clear(&ev);
        }
        return NULL;
}

static void publish_range(orch_events *bus, int64_t from, int64_t to)
{
        for (int64_t i = from; i <= to; i++) {
                orch_event ev = {.id = i, .workspace_id = (char *)"ws-0123456789abcdef", .kind = (char *)"tick",
                                 .name = (char *)"dev", .owner = (char *)"alice", .state = (char *)"ready"};
                orch_events_publish(bus, &ev);
        }
}

static void test_many_and_slow_subscribers(void)
{
        orch_events *bus = orch_events_open(NULL, NULL);
        static reader readers[N_SUBS];
        pthread_t t[N_SUBS];
        int slow_wakes = 0;
        orch_sub *slow = orch_events_subscribe(bus, &(orch_sub_opts){.queue_len = 8, .wake = count_wake,
                                                                     .ctx = &slow_wakes},
                                               NULL);
        orch_event ev = {0};
        bool all_got = true, all_ordered = true;
        double t0, took;
        int n = 0;

        for (int i = 0; i < N_SUBS; i++) {
                readers[i].sub = orch_events_subscribe(bus, &(orch_sub_opts){.queue_len = N_EVENTS}, NULL);
                pthread_create(&t[i], NULL, read_all, &readers[i]);
        }
        t0 = now_s();
        publish_range(bus, 1, N_EVENTS);
        took = now_s() - t0;
        for (int i = 0; i < N_SUBS; i++) {
                pthread_join(t[i], NULL);
                all_got &= readers[i].got == N_EVENTS;
                all_ordered &= readers[i].ordered;
                orch_sub_close(readers[i].sub);
        }
        CHECK(all_got && all_ordered, "50 subscribers each get all 2000 events, in order");
        printf("# published %d events to %d subscribers in %.3f s\n", N_EVENTS, N_SUBS + 1, took);
        CHECK(took < 5, "a subscriber that reads nothing does not hold the publisher up");

        while (orch_sub_next(slow, 0, &ev) == ORCH_SUB_EVENT) {
                n += ev.id == n + 1;
                orch_event_clear(&ev);
        }
        CHECK(n == 8, "the slow subscriber keeps the first events its queue holds, in order");
        CHECK(orch_sub_next(slow, 0, &ev) == ORCH_SUB_OVERFLOW && orch_sub_next(slow, 100, &ev) == ORCH_SUB_OVERFLOW,
              "then it is told it overflowed, and keeps being told so");
        CHECK(slow_wakes == 9, "it was woken for each queued event and once for the overflow, never after");
        publish_range(bus, N_EVENTS + 1, N_EVENTS + 5);
        CHECK(orch_sub_next(slow, 0, &ev) == ORCH_SUB_OVERFLOW && slow_wakes == 9,
              "events after an overflow do not reach it");
        orch_sub_close(slow);
        orch_events_close(bus);
}

static void test_close(void)
{
        orch_events *bus = orch_events_open(NULL, NULL);
        int w = 0;
        orch_sub *sub = orch_events_subscribe(bus, &(orch_sub_opts){.wake = count_wake, .ctx = &w}, NULL);
        orch_event ev = {0};
        orch_sub_status s;

        publish_range(bus, 1, 2);
        publish_range(bus, 2, 2);
        orch_events_close(bus);
        CHECK(w == 3, "closing the bus wakes its subscribers");
        s = orch_sub_next(sub, 0, &ev);
        CHECK(s == ORCH_SUB_EVENT && ev.id == 1, "events queued before the close are still delivered");
        orch_event_clear(&ev);
        s = orch_sub_next(sub, 0, &ev);
        CHECK(s == ORCH_SUB_EVENT && ev.id == 2, "an id published twice is delivered once");
        orch_event_clear(&ev);
        {
                double t0 = now_s();
                CHECK(orch_sub_next(sub, 1000, &ev) == ORCH_SUB_CLOSED && now_s() - t0 < 0.5,
                      "then the subscriber learns the bus closed, at once");
        }
        orch_sub_close(sub); /* frees the bus (the sanitizer build checks) */
}

int main(void)
{
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        test_feed();
        test_commits_reach_subscribers();
        test_threads_keep_log_order();
        test_many_and_slow_subscribers();
        test_close();
        {
                const char *rm[] = {"rm", "-rf", dir, NULL};
                hd_run(rm, NULL, NULL);
        }
        return tl_done();
}

/* test-store-crash.c — the store under several threads and processes, and
 * after a writer dies half-way: one winner per name, no lost or torn state
 * change, no database left locked. */
#include "common/common.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define RACERS 8

static char dir[] = "/tmp/hostd-test-store-crash-XXXXXX";
static char *db_path;

static orch_workspace spec(const char *name)
{
        return (orch_workspace){.name = (char *)name, .owner = (char *)"alice",
                                .image = (char *)"img-0", .vcpus = 1, .memory_mib = 512,
                                .disk_gib = 4};
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct racer {
        int n;
        pthread_barrier_t *barrier;
        bool opened, image_added, created;
        hd_error err; /* of the create */
} racer;

/* Each thread: its own handle on a file nobody has opened yet, one image of
 * its own, then all at once a workspace with the same name. */
static void *race(void *arg)
{
        racer *r = arg;
        char name[32];
        orch_store *st;

        pthread_barrier_wait(r->barrier);
        st = orch_store_open(db_path, &r->err);
        r->opened = st != NULL;
        snprintf(name, sizeof(name), "img-%d", r->n);
        r->image_added = st && orch_store_image_insert(st, &(orch_image){.name = name,
                                                                         .format = (char *)"qcow2",
                                                                         .sha256 = (char *)"00"},
                                                       &r->err) == 0;
        pthread_barrier_wait(r->barrier);
        if (st) {
                orch_workspace s = spec("contested");
                orch_workspace *ws = orch_store_workspace_create(st, &s, &r->err);

                r->created = ws != NULL;
                orch_workspace_free(ws);
        }
        orch_store_close(st);
        return NULL;
}

static void test_race(void)
{
        pthread_barrier_t barrier;
        pthread_t t[RACERS];
        racer r[RACERS];
        int opened = 0, images = 0, winners = 0, conflicts = 0;

        pthread_barrier_init(&barrier, NULL, RACERS);
        for (int i = 0; i < RACERS; i++) {
                r[i] = (racer){.n = i, .barrier = &barrier};
                pthread_create(&t[i], NULL, race, &r[i]);
        }
        for (int i = 0; i < RACERS; i++) {
                pthread_join(t[i], NULL);
                opened += r[i].opened;
                images += r[i].image_added;
                winners += r[i].created;
                conflicts += !r[i].created && r[i].err.code == HD_E_CONFLICT;
                if (!r[i].created && r[i].err.code != HD_E_CONFLICT)
                        printf("# racer %d: %s\n", i, r[i].err.message);
        }
        pthread_barrier_destroy(&barrier);
        CHECK(opened == RACERS, "8 handles open a new database at the same time");
        CHECK(images == RACERS, "each of them writes at once");
        CHECK(winners == 1, "8 creates of the same name at once: exactly one wins");
        CHECK(conflicts == RACERS - 1, "the others get a conflict, not a database error");
}

typedef struct cycler {
        orch_store *st;
        char *id;
        int ok;
} cycler;

static const orch_ws_state cycle[] = {ORCH_WS_STOPPING, ORCH_WS_STOPPED, ORCH_WS_STARTING,
                                      ORCH_WS_RUNNING};

static void *run_cycles(void *arg)
{
        cycler *c = arg;

        for (int i = 0; i < 25; i++)
                for (size_t k = 0; k < HD_ARRAY_SIZE(cycle); k++) {
                        orch_ws_state from = cycle[(k + 3) % 4];
                        c->ok += orch_store_transition(c->st, c->id, ORCH_WS_BIT(from), cycle[k],
                                                       NULL, NULL) == 0;
                }
        return NULL;
}

/* Bring a new workspace to running. */
static char *running_workspace(orch_store *st, const char *name)
{
        orch_workspace s = spec(name);
        orch_workspace *ws = orch_store_workspace_create(st, &s, NULL);
        char *id;

        if (!ws)
                return NULL;
        id = steal_ptr(ws->id);
        orch_workspace_free(ws);
        orch_store_transition(st, id, ORCH_WS_ANY, ORCH_WS_PROVISIONING, NULL, NULL);
        orch_store_transition(st, id, ORCH_WS_ANY, ORCH_WS_RUNNING, NULL, NULL);
        return id;
}

static void test_shared_handle(void)
{
        orch_store *st = orch_store_open(db_path, NULL);
        pthread_t t[RACERS];
        cycler c[RACERS];
        int ok = 0;
        bool logs = true;

        if (!st)
                return;
        for (int i = 0; i < RACERS; i++) {
                char name[32];

                snprintf(name, sizeof(name), "shared-%d", i);
                c[i] = (cycler){.st = st, .id = running_workspace(st, name)};
                pthread_create(&t[i], NULL, run_cycles, &c[i]);
        }
        for (int i = 0; i < RACERS; i++) {
                orch_event_list ev;

                pthread_join(t[i], NULL);
                ok += c[i].ok;
                logs &= orch_store_event_list(st, c[i].id, 0, 0, &ev, NULL) == 0 &&
                        ev.count == 3 + 100;
                orch_event_list_free(&ev);
                free(c[i].id);
        }
        CHECK(ok == RACERS * 100, "8 threads sharing one handle change states without a failure");
        CHECK(logs, "and every change is logged once");
        orch_store_close(st);
}

/* ---- processes that die ----------------------------------------------------------- */

/* The state events, followed from creation, must end at the row's state. */
static bool log_agrees(orch_store *st, const char *id, size_t *changes)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = orch_store_workspace_get(st, id, NULL);
        orch_event_list ev;
        const char *at = "pending";
        bool ok;

        if (!ws || orch_store_event_list(st, id, 0, 0, &ev, NULL) < 0)
                return false;
        ok = ev.count > 0 && strcmp(ev.items[0].kind, "created") == 0;
        *changes = 0;
        for (size_t i = 1; ok && i < ev.count; i++) {
                ok = strcmp(ev.items[i].kind, "state") == 0 &&
                     strcmp(ev.items[i].from_state, at) == 0;
                at = ev.items[i].to_state;
                (*changes)++;
        }
        ok = ok && strcmp(at, orch_ws_state_name(ws->state)) == 0;
        orch_event_list_free(&ev);
        return ok;
}

/* A writer that dies with a big transaction half-written: its pages reach
 * the write-ahead log, its commit never does. */
static void test_torn_write(void)
{
        orch_store *st = orch_store_open(db_path, NULL);
        _cleanup_free_ char *id = st ? running_workspace(st, "torn") : NULL;
        _cleanup_free_ char *wal = hd_asprintf("%s-wal", db_path);
        size_t before = 0, after = 0;
        struct stat sb;
        int status = -1;
        pid_t pid;

        orch_store_close(st);
        if (!id)
                return;
        st = orch_store_open(db_path, NULL);
        CHECK(st && log_agrees(st, id, &before), "a workspace with a log to compare");
        orch_store_close(st);
        pid = fork();
        if (pid == 0) {
                sqlite3 *db;
                _cleanup_free_ char *sql = hd_asprintf(
                        "PRAGMA cache_size = 2; BEGIN IMMEDIATE;"
                        "UPDATE workspaces SET state = 'stopped' WHERE id = '%s';"
                        "WITH RECURSIVE n(i) AS"
                        " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)"
                        " INSERT INTO events (workspace_id, time, kind, detail)"
                        "  SELECT '%s', 1, 'junk', json_quote(hex(randomblob(500))) FROM n;",
                        id, id);

                if (sqlite3_open(db_path, &db) != SQLITE_OK ||
                    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
                        _exit(2);
                _exit(0); /* no COMMIT */
        }
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer wrote and died");
        if (stat(wal, &sb) == 0)
                printf("# write-ahead log after the crash: %lld bytes\n", (long long)sb.st_size);
        st = orch_store_open(db_path, NULL);
        CHECK(st != NULL, "the store opens after a writer died mid-transaction");
        if (!st)
                return;
        {
                _cleanup_(orch_workspace_freep) orch_workspace *ws =
                        orch_store_workspace_get(st, id, NULL);
                CHECK(ws && ws->state == ORCH_WS_RUNNING, "the uncommitted state change is gone");
        }
        CHECK(log_agrees(st, id, &after) && after == before, "no uncommitted event is in the log");
        CHECK(orch_store_transition(st, id, ORCH_WS_BIT(ORCH_WS_RUNNING), ORCH_WS_STOPPING, NULL,
                                    NULL) == 0,
              "the database is not left locked");
        orch_store_close(st);
}

/* A process changing states as fast as it can, killed at a random moment,
 * five times: each time the row and its log agree. */
static void test_killed_writer(void)
{
        orch_store *st = orch_store_open(db_path, NULL);
        _cleanup_free_ char *id = st ? running_workspace(st, "killed") : NULL;
        bool agree = true, moved = true, unlocked = true;
        size_t changes = 0, last = 0;

        orch_store_close(st);
        if (!id)
                return;
        srand((unsigned)time(NULL));
        for (int round = 0; round < 5; round++) {
                int p[2];
                char c;
                pid_t pid;

                if (pipe(p) < 0)
                        return;
                pid = fork();
                if (pid == 0) {
                        orch_store *child = orch_store_open(db_path, NULL);
                        _cleanup_(orch_workspace_freep) orch_workspace *ws =
                                child ? orch_store_workspace_get(child, id, NULL) : NULL;
                        size_t k = 0;

                        if (!ws)
                                _exit(2);
                        while (cycle[k] != ws->state)
                                k = (k + 1) % 4;
                        for (int i = 0;; i++) {
                                k = (k + 1) % 4;
                                if (orch_store_transition(child, id, ORCH_WS_BIT(cycle[(k + 3) % 4]),
                                                          cycle[k], "cycling", NULL) < 0)
                                        _exit(3);
                                if (i == 20 && write(p[1], "x", 1) != 1)
                                        _exit(4);
                        }
                }
                close(p[1]);
                if (read(p[0], &c, 1) == 1) {
                        struct timespec ts = {0, (rand() % 20000) * 1000L};
                        nanosleep(&ts, NULL);
                } else {
                        moved = false;
                }
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                close(p[0]);

                st = orch_store_open(db_path, NULL);
                agree &= st && log_agrees(st, id, &changes);
                moved &= changes > last;
                last = changes;
                {
                        _cleanup_(orch_workspace_freep) orch_workspace *ws =
                                st ? orch_store_workspace_get(st, id, NULL) : NULL;
                        /* One step on from wherever it is, and back: needs the write lock. */
                        unlocked &= ws && orch_store_transition(st, id, ORCH_WS_ANY, ORCH_WS_FAILED,
                                                                NULL, NULL) == 0;
                        unlocked &= orch_store_transition(st, id, ORCH_WS_ANY, ORCH_WS_STARTING,
                                                          NULL, NULL) == 0 &&
                                    orch_store_transition(st, id, ORCH_WS_ANY, ORCH_WS_RUNNING,
                                                          NULL, NULL) == 0;
                }
                orch_store_close(st);
        }
        printf("# %zu state changes logged over 5 killed writers\n", changes);
        CHECK(moved, "each killed writer had committed state changes");
        CHECK(agree, "after each kill, the state and the event log agree");
        CHECK(unlocked, "after each kill, the database takes writes at once");
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", dir, NULL};

        if (!mkdtemp(dir))
                return 1;
        db_path = hd_path_join(dir, "hostd.db");
        test_race();
        test_shared_handle();
        test_torn_write();
        test_killed_writer();
        hd_run(rm, NULL, NULL);
        free(db_path);
        return tl_done();
}

/* test-store-gpu.c — GPU allocation in the store: the inventory's GPUs and
 * their holders, claims by model and NUMA node, the refusal messages,
 * release and re-claim, quarantine, GPUs that vanish from the inventory,
 * 100 concurrent claims for 8 GPUs, and writers killed mid-claim. */
#include "common/common.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

static char dir[] = "/tmp/hostd-test-store-gpu-XXXXXX";

#define H100 "10de:2330", "GH100 [H100 SXM5 80GB]"
#define A100 "10de:20b2", "GA100 [A100 SXM4 80GB]"

/* An HGX-style board: 4 H100 on each of two NUMA nodes, and one A100. */
static const struct {
        const char *address, *vendor_device, *model;
        int node;
} board[] = {
        {"0000:18:00.0", H100, 0}, {"0000:2a:00.0", H100, 0}, {"0000:3a:00.0", H100, 0},
        {"0000:5d:00.0", H100, 0}, {"0000:9a:00.0", H100, 1}, {"0000:ab:00.0", H100, 1},
        {"0000:ba:00.0", H100, 1}, {"0000:db:00.0", H100, 1}, {"0000:e1:00.0", A100, 1},
};
#define BOARD HD_ARRAY_SIZE(board)

/* The board as an inventory reports it, without the GPU at index skip (-1: all). */
static int sync_board(orch_store *st, size_t first, size_t last, int skip)
{
        orch_gpu_row rows[BOARD];
        size_t n = 0;

        for (size_t i = first; i < last; i++)
                if ((int)i != skip)
                        rows[n++] = (orch_gpu_row){.address = (char *)board[i].address,
                                                   .vendor_device = (char *)board[i].vendor_device,
                                                   .model = (char *)board[i].model,
                                                   .numa_node = board[i].node};
        return orch_store_gpu_sync(st, rows, n, NULL);
}

static orch_store *open_store(const char *file, bool with_image)
{
        _cleanup_free_ char *path = hd_path_join(dir, file);
        orch_store *st = orch_store_open(path, NULL);

        if (st && with_image)
                orch_store_image_insert(st, &(orch_image){.name = (char *)"cuda",
                                                          .format = (char *)"qcow2",
                                                          .sha256 = (char *)"00"},
                                        NULL);
        return st;
}

static char *new_ws(orch_store *st, const char *name)
{
        orch_workspace spec = {.name = (char *)name, .owner = (char *)"ml", .image = (char *)"cuda",
                               .vcpus = 8, .memory_mib = 65536, .disk_gib = 100};
        orch_workspace *ws = orch_store_workspace_create(st, &spec, NULL);
        char *id = ws ? steal_ptr(ws->id) : NULL;

        orch_workspace_free(ws);
        return id;
}

/* The addresses of a claim, space-separated ("" for none), or the error. */
static char *claim(orch_store *st, const char *ws, unsigned count, const char *model,
                   const char *numa, hd_error *err)
{
        hd_error e = {0};
        char **a = NULL;
        size_t n = 0;
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;

        if (orch_store_gpu_claim(st, ws, count, model, numa, &a, &n, &e) < 0) {
                if (err)
                        *err = e;
                return e.code == HD_E_NO_RESOURCES ? hd_asprintf("no resources: %s", e.message)
                                                   : hd_asprintf("error %d: %s", e.code, e.message);
        }
        hd_buf_append(&b, "");
        for (size_t i = 0; i < n; i++)
                hd_buf_appendf(&b, "%s%s", i ? " " : "", a[i]);
        orch_gpu_addresses_free(a, n);
        return hd_buf_steal(&b);
}

static size_t held_count(orch_store *st, const char *ws)
{
        char **a = NULL;
        size_t n = 0;

        if (orch_store_gpu_held(st, ws, &a, &n, NULL) < 0)
                return (size_t)-1;
        orch_gpu_addresses_free(a, n);
        return n;
}

static const orch_gpu_row *find_row(const orch_gpu_row_list *l, const char *address)
{
        for (size_t i = 0; i < l->count; i++)
                if (strcmp(l->items[i].address, address) == 0)
                        return &l->items[i];
        return NULL;
}

/* One number from the database file, through a connection of our own. */
static long long raw_int(const char *file, const char *sql)
{
        _cleanup_free_ char *path = hd_path_join(dir, file);
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        long long v = -1;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW)
                v = sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        return v;
}

static int raw_exec(const char *file, const char *sql)
{
        _cleanup_free_ char *path = hd_path_join(dir, file);
        sqlite3 *db = NULL;
        int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);

        if (rc == SQLITE_OK) {
                sqlite3_extended_result_codes(db, 1);
                rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        }
        sqlite3_close(db);
        return rc;
}

/* ---- inventory and requests -------------------------------------------------------- */

static void test_sync_list(orch_store *st)
{
        orch_gpu_row_list l = {0};
        const orch_gpu_row *g;

        CHECK(sync_board(st, 0, BOARD, -1) == 0, "an inventory of 9 GPUs is recorded");
        CHECK(orch_store_gpu_list(st, &l, NULL) == 0 && l.count == BOARD,
              "the list shows every GPU");
        g = l.count ? &l.items[0] : NULL;
        CHECK(g && strcmp(g->address, "0000:18:00.0") == 0 && strcmp(g->model, board[0].model) == 0 &&
                      strcmp(g->vendor_device, "10de:2330") == 0 && g->numa_node == 0 &&
                      g->present && !g->quarantined && !g->workspace_id,
              "each with its model, ids, NUMA node, present and unheld");
        g = find_row(&l, "0000:e1:00.0");
        CHECK(g && g->numa_node == 1 && strcmp(g->model, board[8].model) == 0,
              "the list is by address and complete");
        orch_gpu_row_list_free(&l);
        CHECK(sync_board(st, 0, BOARD, -1) == 0 && orch_store_gpu_list(st, &l, NULL) == 0 &&
                      l.count == BOARD,
              "a second inventory of the same GPUs adds no row");
        orch_gpu_row_list_free(&l);
}

static void test_workspace_request(orch_store *st)
{
        orch_workspace spec = {.name = (char *)"trainbox", .owner = (char *)"ml",
                               .image = (char *)"cuda", .vcpus = 8, .memory_mib = 4096,
                               .disk_gib = 50, .gpu_count = 2, .gpu_model = (char *)"H100",
                               .gpu_numa = (char *)"required"};
        _cleanup_(orch_workspace_freep) orch_workspace *ws =
                orch_store_workspace_create(st, &spec, NULL);
        _cleanup_(orch_workspace_freep) orch_workspace *again =
                ws ? orch_store_workspace_get(st, ws->id, NULL) : NULL;
        hd_error err = {0};

        CHECK(again && again->gpu_count == 2 && strcmp(again->gpu_model, "H100") == 0 &&
                      strcmp(again->gpu_numa, "required") == 0,
              "a workspace keeps the GPUs it asks for");
        spec.name = (char *)"badnuma";
        spec.gpu_numa = (char *)"strict";
        CHECK(!orch_store_workspace_create(st, &spec, &err) && err.code == HD_E_INVALID,
              "an unknown NUMA policy is refused");
        CHECK_CONTAINS(err.message, "must be 'required' or 'preferred'", "and says what is allowed");
}

static void test_model_and_numa(orch_store *st)
{
        _cleanup_free_ char *a = new_ws(st, "a"), *b = new_ws(st, "b"), *c = new_ws(st, "c");
        _cleanup_free_ char *d = new_ws(st, "d"), *e = new_ws(st, "e"), *f = new_ws(st, "f");
        _cleanup_free_ char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL;
        _cleanup_free_ char *r6 = NULL, *r7 = NULL, *r8 = NULL;

        r1 = claim(st, a, 1, "a100", NULL, NULL);
        CHECK_STR(r1, "0000:e1:00.0", "a model is matched case-insensitively in the name");
        r2 = claim(st, b, 2, "10de:2330", NULL, NULL);
        CHECK_STR(r2, "0000:18:00.0 0000:2a:00.0",
                  "vendor:device matches; two GPUs come from one node, lowest addresses");
        /* node 0: 2 free, node 1: 4 free: the node that fits best is used,
         * so node 1 stays whole for a request of 4. */
        r3 = claim(st, c, 2, "H100", "preferred", NULL);
        CHECK_STR(r3, "0000:3a:00.0 0000:5d:00.0",
                  "the node with the fewest free GPUs that fits is chosen");
        r4 = claim(st, d, 4, "H100", "required", NULL);
        CHECK_STR(r4, "0000:9a:00.0 0000:ab:00.0 0000:ba:00.0 0000:db:00.0",
                  "which leaves a whole node for a request of 4");
        CHECK(orch_store_gpu_release(st, b, NULL) == 0 && orch_store_gpu_release(st, d, NULL) == 0,
              "release");
        r8 = claim(st, e, 3, "H100", NULL, NULL);
        CHECK_STR(r8, "0000:9a:00.0 0000:ab:00.0 0000:ba:00.0", "3 of node 1's 4 are taken");
        free(steal_ptr(r8));
        /* now node 0: 18, 2a free; node 1: db free. */
        r5 = claim(st, f, 3, "H100", "required", NULL);
        CHECK_STR(r5, "no resources: 3 H100 free but not 3 on one NUMA node (numa=required)",
                  "numa=required refuses GPUs spread over nodes, saying why");
        r6 = claim(st, f, 3, "H100", "preferred", NULL);
        CHECK_STR(r6, "0000:18:00.0 0000:2a:00.0 0000:db:00.0",
                  "numa=preferred spreads when no node can hold the request, fullest node first");
        r7 = claim(st, f, 3, "H100", NULL, NULL);
        CHECK_STR(r7, r6, "a second claim of the same count returns the GPUs held");
        r8 = claim(st, f, 2, "H100", NULL, NULL);
        CHECK_CONTAINS(r8, "already holds 3 GPUs", "a claim of another count is refused");
        CHECK(orch_store_gpu_release(st, a, NULL) == 0 && orch_store_gpu_release(st, c, NULL) == 0 &&
                      orch_store_gpu_release(st, e, NULL) == 0 &&
                      orch_store_gpu_release(st, f, NULL) == 0 &&
                      orch_store_gpu_release(st, f, NULL) == 0,
              "release is idempotent");
}

static void test_refusals(orch_store *st)
{
        _cleanup_free_ char *a = new_ws(st, "ra"), *b = new_ws(st, "rb"), *c = new_ws(st, "rc");
        _cleanup_free_ char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL;
        hd_error err = {0};

        r2 = claim(st, a, 5, "H100", NULL, NULL);
        CHECK(strncmp(r2, "0000:", 5) == 0, "5 of 8 H100 claimed");
        free(steal_ptr(r2));
        r1 = claim(st, b, 4, "H100", NULL, &err);
        CHECK(err.code == HD_E_NO_RESOURCES, "too few free GPUs is a lack of resources");
        CHECK_STR(r1, "no resources: only 3 of 8 H100 free, 4 requested", "saying how many are free");
        r2 = claim(st, b, 3, "H100", NULL, NULL);
        r3 = claim(st, c, 1, "H100", NULL, NULL);
        CHECK_STR(r3, "no resources: no free H100: 0 of 8 free", "none free");
        r4 = claim(st, c, 1, "V100", NULL, NULL);
        CHECK_STR(r4, "no resources: no free V100: this host has none", "a model the host lacks");
        r5 = claim(st, c, 1, NULL, NULL, NULL);
        CHECK_STR(r5, "0000:e1:00.0", "no model: any GPU");
        CHECK(held_count(st, c) == 1 && held_count(st, b) == 3, "a refused claim changed nothing");
        orch_store_gpu_release(st, a, NULL);
        orch_store_gpu_release(st, b, NULL);
        orch_store_gpu_release(st, c, NULL);
}

static void test_release_reclaim(orch_store *st)
{
        _cleanup_free_ char *a = new_ws(st, "re-a"), *b = new_ws(st, "re-b");
        _cleanup_free_ char *first = claim(st, a, 2, "H100", NULL, NULL);
        _cleanup_free_ char *other = NULL, *second = NULL;
        orch_event_list ev = {0};
        bool logged;

        CHECK(orch_store_gpu_release(st, a, NULL) == 0 && held_count(st, a) == 0,
              "a released workspace holds no GPU");
        other = claim(st, b, 2, "H100", NULL, NULL);
        CHECK_STR(other, first, "its GPUs are free for others at once");
        second = claim(st, a, 2, "H100", NULL, NULL);
        CHECK(strncmp(second, "0000:", 5) == 0 && strcmp(second, first) != 0,
              "claiming again (a start) takes other free GPUs");
        orch_store_event_list(st, a, 0, 0, &ev, NULL);
        logged = ev.count == 4 && strcmp(ev.items[1].kind, "gpu.claimed") == 0 &&
                 strcmp(ev.items[2].kind, "gpu.released") == 0 &&
                 strstr(ev.items[1].detail, "\"addresses\":[\"0000:18:00.0\",\"0000:2a:00.0\"]");
        CHECK(logged, "claims and releases are in the workspace's log, with the addresses");
        orch_event_list_free(&ev);
        orch_store_gpu_release(st, a, NULL);
        orch_store_gpu_release(st, b, NULL);
}

static void test_quarantine(orch_store *st)
{
        _cleanup_free_ char *a = new_ws(st, "q-a");
        _cleanup_free_ char *all = NULL, *after = NULL;
        orch_gpu_row_list l = {0};
        hd_error err = {0};

        CHECK(orch_store_gpu_quarantine(st, "0000:18:00.0", "reset failed: flr timed out",
                                        NULL) == 0,
              "a GPU is quarantined");
        orch_store_gpu_list(st, &l, NULL);
        CHECK(l.count && l.items[0].quarantined &&
                      strcmp(l.items[0].quarantine_reason, "reset failed: flr timed out") == 0,
              "the list shows it quarantined, with why");
        orch_gpu_row_list_free(&l);
        all = claim(st, a, 8, "H100", NULL, NULL);
        CHECK_STR(all, "no resources: only 7 of 8 H100 free, 8 requested",
                  "a quarantined GPU is never claimed");
        CHECK(sync_board(st, 0, BOARD, -1) == 0 && orch_store_gpu_list(st, &l, NULL) == 0 &&
                      l.items[0].quarantined,
              "a quarantine survives a new inventory");
        orch_gpu_row_list_free(&l);
        CHECK(orch_store_gpu_clear(st, "0000:18:00.0", NULL) == 0, "an admin clears it");
        after = claim(st, a, 8, "H100", NULL, NULL);
        CHECK(strncmp(after, "0000:18:00.0 ", 13) == 0, "and it is claimable again");
        orch_store_gpu_release(st, a, NULL);
        CHECK(orch_store_gpu_quarantine(st, "0000:ff:00.0", "x", &err) < 0 &&
                      err.code == HD_E_NOT_FOUND,
              "quarantining an unknown address: not found");
        err = (hd_error){0};
        CHECK(orch_store_gpu_clear(st, "0000:ff:00.0", &err) < 0 && err.code == HD_E_NOT_FOUND,
              "clearing an unknown address: not found");
}

static void test_vanished(orch_store *st)
{
        _cleanup_free_ char *a = new_ws(st, "v-a"), *b = new_ws(st, "v-b");
        _cleanup_free_ char *held = claim(st, a, 1, "H100", NULL, NULL);
        _cleanup_free_ char *rest = NULL;
        orch_gpu_row_list l = {0};
        const orch_gpu_row *g;

        CHECK_STR(held, "0000:18:00.0", "a holds the first H100");
        /* The inventory no longer sees the held GPU nor 0000:2a:00.0. */
        CHECK(sync_board(st, 2, BOARD, -1) == 0, "an inventory without two GPUs");
        orch_store_gpu_list(st, &l, NULL);
        g = find_row(&l, "0000:18:00.0");
        CHECK(l.count == BOARD && g && !g->present && g->workspace_id &&
                      strcmp(g->workspace_id, a) == 0,
              "a vanished GPU stays listed, not present, with its holder");
        orch_gpu_row_list_free(&l);
        CHECK(held_count(st, a) == 1, "its holder keeps it");
        rest = claim(st, b, 7, "H100", NULL, NULL);
        CHECK_STR(rest, "no resources: only 6 of 6 H100 free, 7 requested",
                  "a GPU not present is not claimed nor counted");
        CHECK(sync_board(st, 0, BOARD, -1) == 0 && held_count(st, a) == 1, "it comes back");
        orch_store_gpu_release(st, a, NULL);
}

static void test_stop_and_purge(orch_store *st, const char *file)
{
        _cleanup_free_ char *a = new_ws(st, "s-a"), *b = new_ws(st, "s-b");
        _cleanup_free_ char *sql = NULL, *r = claim(st, a, 2, "H100", NULL, NULL);
        static const orch_ws_state path[] = {ORCH_WS_PROVISIONING, ORCH_WS_RUNNING,
                                             ORCH_WS_STOPPED};
        bool moved = true;

        for (size_t i = 0; i < HD_ARRAY_SIZE(path); i++)
                moved &= orch_store_transition(st, a, ORCH_WS_ANY, path[i], NULL, NULL) == 0;
        CHECK(moved && held_count(st, a) == 0,
              "a workspace moved to stopped holds no GPU (same transaction)");
        free(r);
        r = claim(st, a, 2, "H100", NULL, NULL);
        CHECK(held_count(st, a) == 2 &&
                      orch_store_transition(st, a, ORCH_WS_ANY, ORCH_WS_FAILED, "test", NULL) == 0 &&
                      held_count(st, a) == 0,
              "a workspace moved to failed holds no GPU (same transaction)");
        CHECK(orch_store_transition(st, b, ORCH_WS_ANY, ORCH_WS_DELETING, NULL, NULL) == 0 &&
                      orch_store_transition(st, b, ORCH_WS_ANY, ORCH_WS_DELETED, NULL, NULL) == 0,
              "b is deleted");
        /* A deleted row holding a GPU, put there behind the store's back. */
        sql = hd_asprintf("PRAGMA foreign_keys = ON; INSERT INTO gpu_assignments VALUES"
                          " ('0000:9a:00.0', '%s', 1)",
                          b);
        CHECK(raw_exec(file, sql) == SQLITE_OK && held_count(st, b) == 1, "b holds a GPU");
        CHECK(orch_store_workspace_purge(st, b, NULL) == 0 &&
                      raw_int(file, "SELECT count(*) FROM gpu_assignments") == 0,
              "purging a workspace releases its GPUs with it");
        CHECK(raw_exec(file, "PRAGMA foreign_keys = ON; INSERT INTO gpu_assignments VALUES"
                             " ('0000:9a:00.0', 'ws-0000000000000000', 1)") ==
                      SQLITE_CONSTRAINT_FOREIGNKEY &&
                      raw_exec(file, "PRAGMA foreign_keys = ON; INSERT INTO gpu_assignments"
                                     " SELECT '0000:00:00.9', id, 1 FROM workspaces LIMIT 1") ==
                              SQLITE_CONSTRAINT_FOREIGNKEY,
              "an assignment needs both its workspace and its GPU");
}

/* ---- concurrency ------------------------------------------------------------------- */

#define CLAIMERS 100

typedef struct claimer {
        const char *ws_id;
        pthread_barrier_t *barrier;
        char *address;
        hd_error err;
} claimer;

static void *claim_one(void *arg)
{
        claimer *c = arg;
        orch_store *st = open_store("race.db", false);
        char **a = NULL;
        size_t n = 0;

        pthread_barrier_wait(c->barrier);
        if (st && orch_store_gpu_claim(st, c->ws_id, 1, "H100", NULL, &a, &n, &c->err) == 0 &&
            n == 1)
                c->address = steal_ptr(a[0]);
        orch_gpu_addresses_free(a, n);
        orch_store_close(st);
        return NULL;
}

static void test_concurrent(void)
{
        orch_store *st = open_store("race.db", true);
        pthread_barrier_t barrier;
        pthread_t t[CLAIMERS];
        claimer c[CLAIMERS];
        char *ids[CLAIMERS];
        int granted = 0, refused = 0, shared = 0;
        struct timespec t0, t1;

        if (!st || sync_board(st, 0, 8, -1) < 0)
                return;
        for (int i = 0; i < CLAIMERS; i++) {
                char name[16];

                snprintf(name, sizeof(name), "racer-%d", i);
                ids[i] = new_ws(st, name);
        }
        orch_store_close(st);
        pthread_barrier_init(&barrier, NULL, CLAIMERS);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < CLAIMERS; i++) {
                c[i] = (claimer){.ws_id = ids[i], .barrier = &barrier};
                pthread_create(&t[i], NULL, claim_one, &c[i]);
        }
        for (int i = 0; i < CLAIMERS; i++)
                pthread_join(t[i], NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        pthread_barrier_destroy(&barrier);
        for (int i = 0; i < CLAIMERS; i++) {
                granted += c[i].address != NULL;
                refused += !c[i].address && c[i].err.code == HD_E_NO_RESOURCES;
                if (!c[i].address && c[i].err.code != HD_E_NO_RESOURCES)
                        printf("# claimer %d: %s\n", i, c[i].err.message);
                for (int j = 0; j < i; j++)
                        shared += c[i].address && c[j].address &&
                                  strcmp(c[i].address, c[j].address) == 0;
        }
        printf("# %d claims on %d handles at once: %.0f ms\n", CLAIMERS, CLAIMERS,
               (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
        CHECK(granted == 8, "100 concurrent claims for 8 GPUs: exactly 8 are granted");
        CHECK(refused == CLAIMERS - 8, "the others are refused for lack of GPUs, not an error");
        CHECK(shared == 0, "no GPU is given twice");
        CHECK(raw_int("race.db", "SELECT count(*) FROM gpu_assignments") == 8 &&
                      raw_int("race.db", "SELECT count(DISTINCT address) FROM gpu_assignments") == 8 &&
                      raw_int("race.db", "SELECT count(DISTINCT workspace_id) FROM gpu_assignments") == 8,
              "the table holds 8 assignments, 8 GPUs, 8 workspaces");
        for (int i = 0; i < CLAIMERS; i++) {
                free(ids[i]);
                free(c[i].address);
        }
}

/* ---- writers that die mid-claim -------------------------------------------------------- */

/* A child claiming and releasing 3 GPUs as fast as it can, killed at a
 * random moment, five times: the workspace holds 3 or none, never part of a
 * claim, its log's last GPU event agrees, and the store takes writes. */
static void test_killed_claimer(void)
{
        orch_store *st = open_store("crash.db", true);
        _cleanup_free_ char *id = NULL;
        bool whole = true, agree = true, unlocked = true, ran = true;

        if (!st || sync_board(st, 0, BOARD, -1) < 0 || !(id = new_ws(st, "crashy")))
                return;
        orch_store_close(st);
        srand((unsigned)time(NULL));
        for (int round = 0; round < 5; round++) {
                int p[2];
                char ch;
                pid_t pid;
                orch_event_list ev = {0};
                size_t n, last_gpu = 0;

                if (pipe(p) < 0)
                        return;
                pid = fork();
                if (pid == 0) {
                        orch_store *child = open_store("crash.db", false);
                        char **a;
                        size_t k;

                        for (int i = 0; child; i++) {
                                if (orch_store_gpu_claim(child, id, 3, "H100", "required", &a, &k,
                                                         NULL) < 0 ||
                                    orch_store_gpu_release(child, id, NULL) < 0)
                                        _exit(3);
                                orch_gpu_addresses_free(a, k);
                                if (i == 10 && write(p[1], "x", 1) != 1)
                                        _exit(4);
                        }
                        _exit(2);
                }
                close(p[1]);
                if (read(p[0], &ch, 1) == 1) {
                        struct timespec ts = {0, (rand() % 20000) * 1000L};
                        nanosleep(&ts, NULL);
                } else {
                        ran = false;
                }
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                close(p[0]);

                st = open_store("crash.db", false);
                n = st ? held_count(st, id) : (size_t)-1;
                whole &= n == 0 || n == 3;
                if (st && orch_store_event_list(st, id, 0, 0, &ev, NULL) == 0)
                        for (size_t i = 0; i < ev.count; i++)
                                if (strncmp(ev.items[i].kind, "gpu.", 4) == 0)
                                        last_gpu = i;
                agree &= ev.count && strcmp(ev.items[last_gpu].kind,
                                            n == 3 ? "gpu.claimed" : "gpu.released") == 0;
                orch_event_list_free(&ev);
                unlocked &= st && orch_store_gpu_release(st, id, NULL) == 0 &&
                            held_count(st, id) == 0;
                orch_store_close(st);
        }
        CHECK(ran, "each killed claimer had claimed and released GPUs");
        CHECK(whole, "after each kill the workspace holds all 3 GPUs of a claim or none");
        CHECK(agree, "and its log's last GPU event says the same");
        CHECK(unlocked, "and the store takes writes at once");
}

/* A writer that dies inside its claim's transaction, after its assignment rows. */
static void test_torn_claim(void)
{
        _cleanup_free_ char *path = hd_path_join(dir, "crash.db");
        int status = -1;
        pid_t pid = fork();

        if (pid == 0) {
                sqlite3 *db;

                if (sqlite3_open(path, &db) != SQLITE_OK ||
                    sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO gpu_assignments"
                                     " SELECT address, (SELECT id FROM workspaces LIMIT 1), 1"
                                     " FROM gpus",
                                 NULL, NULL, NULL) != SQLITE_OK)
                        _exit(2);
                _exit(0); /* no COMMIT */
        }
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a claimer wrote its rows and died");
        CHECK(raw_int("crash.db", "SELECT count(*) FROM gpu_assignments") == 0,
              "its uncommitted assignments are gone");
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", dir, NULL};
        orch_store *st;

        if (!mkdtemp(dir))
                return 1;
        st = open_store("gpu.db", true);
        CHECK(st != NULL, "the store opens");
        if (st) {
                test_sync_list(st);
                test_workspace_request(st);
                test_model_and_numa(st);
                test_refusals(st);
                test_release_reclaim(st);
                test_quarantine(st);
                test_vanished(st);
                test_stop_and_purge(st, "gpu.db");
                orch_store_close(st);
        }
        test_concurrent();
        test_killed_claimer();
        test_torn_claim();
        hd_run(rm, NULL, NULL);
        return tl_done();
}

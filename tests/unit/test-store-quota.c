/* test-store-quota.c — quotas and host capacity in the store: limits set,
 * listed, replaced and removed; admission of creates as a table of
 * requests with the exact refusals (user over group, the largest group,
 * GPUs counted by the model actually claimed); nothing left behind by a
 * refusal; a stop gives back vCPUs, memory and GPUs but not disk; a start
 * is admitted again with the groups kept at create; the host's capacity;
 * 50 concurrent creates on separate handles that would overshoot together;
 * and the template groups check of a create. */
#include "common/common.h"
#include "orchestrator/service-internal.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

#include <pthread.h>
#include <sqlite3.h>

static char dir[] = "/tmp/hostd-test-store-quota-XXXXXX";

/* 8 H100 and one A100, as in test-store-gpu.c. */
static const struct {
        const char *address, *model;
        int node;
} board[] = {
        {"0000:18:00.0", "GH100 [H100 SXM5 80GB]", 0}, {"0000:2a:00.0", "GH100 [H100 SXM5 80GB]", 0},
        {"0000:3a:00.0", "GH100 [H100 SXM5 80GB]", 0}, {"0000:5d:00.0", "GH100 [H100 SXM5 80GB]", 0},
        {"0000:9a:00.0", "GH100 [H100 SXM5 80GB]", 1}, {"0000:ab:00.0", "GH100 [H100 SXM5 80GB]", 1},
        {"0000:ba:00.0", "GH100 [H100 SXM5 80GB]", 1}, {"0000:db:00.0", "GH100 [H100 SXM5 80GB]", 1},
        {"0000:e1:00.0", "GA100 [A100 SXM4 80GB]", 1},
};

static orch_store *open_store(const char *file, bool setup)
{
        _cleanup_free_ char *path = hd_path_join(dir, file);
        orch_store *st = orch_store_open(path, NULL);
        orch_gpu_row rows[HD_ARRAY_SIZE(board)];

        if (!st || !setup)
                return st;
        for (size_t i = 0; i < HD_ARRAY_SIZE(board); i++)
                rows[i] = (orch_gpu_row){.address = (char *)board[i].address,
                                         .vendor_device = (char *)(strstr(board[i].model, "A100") ? "10de:20b2"
                                                                                                  : "10de:2330"),
                                         .model = (char *)board[i].model,
                                         .numa_node = board[i].node};
        orch_store_image_insert(st, &(orch_image){.name = (char *)"cuda", .format = (char *)"qcow2",
                                                  .sha256 = (char *)"00"},
                                NULL);
        orch_store_gpu_sync(st, rows, HD_ARRAY_SIZE(board), NULL);
        return st;
}

static long long raw_int(const char *file, const char *sql)
{
        _cleanup_free_ char *path = hd_path_join(dir, file);
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        long long v = -1;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
                v = sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        return v;
}

/* Space-separated groups into an array (at most 4). */
static size_t split_groups(const char *groups, char buf[4][32], const char *out[4])
{
        size_t n = 0;

        for (const char *p = groups; p && *p && n < 4;) {
                size_t len = strcspn(p, " ");
                snprintf(buf[n], 32, "%.*s", (int)len, p);
                out[n] = buf[n];
                n++;
                p += len + (p[len] == ' ');
        }
        return n;
}

typedef struct request {
        const char *name, *owner, *groups;
        unsigned vcpus;
        uint64_t memory_mib, disk_gib;
        unsigned gpus;
        const char *model;
} request;

/* Create with admission: the new id (caller frees), or NULL with err. */
static char *create(orch_store *st, const request *q, const orch_host_capacity *host, hd_error *err)
{
        char buf[4][32];
        const char *groups[4];
        orch_admission adm = {.groups = groups, .n_groups = split_groups(q->groups, buf, groups)};
        orch_workspace spec = {.name = (char *)q->name, .owner = (char *)q->owner, .image = (char *)"cuda",
                               .vcpus = q->vcpus, .memory_mib = q->memory_mib ? q->memory_mib : 1024,
                               .disk_gib = q->disk_gib ? q->disk_gib : 10, .gpu_count = q->gpus,
                               .gpu_model = (char *)q->model};
        orch_workspace *ws;
        char *id;

        if (host)
                adm.host = *host;
        ws = orch_store_workspace_create_admit(st, &spec, &adm, err);
        id = ws ? steal_ptr(ws->id) : NULL;
        orch_workspace_free(ws);
        return id;
}

static int set_quota(orch_store *st, orch_quota_scope scope, const char *name, orch_quota_limit *l, size_t n)
{
        return orch_store_quota_set(st, scope, name, l, n, NULL);
}

#define L(kind, value) {ORCH_QUOTA_##kind, NULL, value}
#define G(model, value) {ORCH_QUOTA_GPUS, (char *)model, value}

/* ---- limits set, listed, replaced, removed ------------------------------------------ */

static void test_limits(orch_store *st)
{
        orch_quota_limit a[] = {G("H100", 2), L(VCPUS, 4)};
        orch_quota_limit b[] = {L(DISK, 100)};
        orch_quota_limit bad[] = {G("bad/model", 1)};
        orch_quota_set one = {0};
        orch_quota_set_list l = {0};
        hd_error err = {0};

        CHECK(set_quota(st, ORCH_QUOTA_USER, "zed", a, 2) == 0, "limits are set on a user");
        CHECK(orch_store_quota_get(st, ORCH_QUOTA_USER, "zed", &one, NULL) == 0 && one.n_limits == 2 &&
                      one.limits[0].kind == ORCH_QUOTA_VCPUS && one.limits[0].value == 4 &&
                      strcmp(one.limits[1].gpu_model, "H100") == 0 && one.limits[1].value == 2 && one.updated_at > 0,
              "and read back, sorted, with the model as given");
        orch_quota_set_clear(&one);
        CHECK(set_quota(st, ORCH_QUOTA_USER, "zed", b, 1) == 0 &&
                      orch_store_quota_get(st, ORCH_QUOTA_USER, "zed", &one, NULL) == 0 && one.n_limits == 1 &&
                      one.limits[0].kind == ORCH_QUOTA_DISK,
              "setting again replaces every limit of that user");
        orch_quota_set_clear(&one);
        CHECK(set_quota(st, ORCH_QUOTA_GROUP, "zed", a, 2) == 0 && orch_store_quota_list(st, &l, NULL) == 0 &&
                      l.count == 2 && l.items[0].scope == ORCH_QUOTA_USER && l.items[1].scope == ORCH_QUOTA_GROUP,
              "a user and a group of the same name are two quotas; the list has users first");
        orch_quota_set_list_free(&l);
        CHECK(set_quota(st, ORCH_QUOTA_GROUP, "bad", bad, 1) < 0, "a bad GPU model is refused");
        CHECK(orch_store_quota_set(st, ORCH_QUOTA_USER, "a/b", b, 1, &err) < 0 && err.code == HD_E_INVALID,
              "a bad user name is refused");
        CHECK(orch_store_quota_delete(st, ORCH_QUOTA_USER, "zed", NULL) == 0 &&
                      orch_store_quota_delete(st, ORCH_QUOTA_GROUP, "zed", NULL) == 0 &&
                      orch_store_quota_list(st, &l, NULL) == 0 && l.count == 0,
              "delete removes them");
        CHECK(orch_store_quota_delete(st, ORCH_QUOTA_USER, "zed", &err) < 0 && err.code == HD_E_NOT_FOUND &&
                      strcmp(err.message, "user zed has no quota set") == 0,
              "deleting what is not set is 404, saying so");
        CHECK(orch_store_quota_get(st, ORCH_QUOTA_GROUP, "nobody", &one, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "reading what is not set is 404");
}

/* ---- admission of creates, as a table ----------------------------------------------- */

#define STOP_OR_DELETE "; stop or delete a workspace, or ask for a higher limit"
#define DELETE_ONLY "; delete a workspace, or ask for a higher limit"

static void test_admission_table(orch_store *st, const char *file)
{
        orch_quota_limit alice[] = {L(VCPUS, 8), G("H100", 3)};
        orch_quota_limit ml[] = {L(WORKSPACES, 3), L(VCPUS, 16), L(MEMORY, 65536), G("H100", 4), G("any", 5)};
        orch_quota_limit research[] = {L(VCPUS, 12), L(MEMORY, 131072), L(DISK, 500)};
        static const struct {
                request q;
                const char *refusal; /* NULL: admitted */
                const char *what;
        } steps[] = {
                {{"a1", "alice", "ml", 2, 0, 0, 2, "H100"}, NULL, "alice: 2 vCPUs, 2 H100 within her limits"},
                {{"a2", "alice", "ml", 2, 0, 0, 2, "H100"},
                 "GPU quota for H100: 2 in use + 2 requested > 3 (limit of user alice)" STOP_OR_DELETE,
                 "alice's own H100 limit (3) wins over her group's (4)"},
                {{"a2", "alice", "ml", 2, 0, 0, 1, "H100"}, NULL, "1 more H100 fits exactly"},
                {{"a3", "alice", "ml", 5, 0, 0, 0, NULL},
                 "vCPU quota: 4 in use + 5 requested > 8 (limit of user alice)" STOP_OR_DELETE,
                 "alice's own vCPU limit (8) wins over her group's (16)"},
                {{"a3", "alice", "ml", 4, 0, 0, 0, NULL}, NULL, "4 more vCPUs fit exactly"},
                {{"a4", "alice", "ml", 1, 0, 0, 0, NULL},
                 "workspace quota: 3 in use + 1 requested > 3 (limit of group ml)" DELETE_ONLY,
                 "the workspace count comes from her group"},
                {{"b1", "bob", "ml research", 4, 102400, 400, 4, "H100"}, NULL,
                 "bob (ml, research): 100G of memory under research's 128G, 4 H100 under ml's 4"},
                {{"b2", "bob", "ml research", 2, 30720, 0, 0, NULL},
                 "memory quota: 100G in use + 30G requested > 128G (limit of group research)" STOP_OR_DELETE,
                 "the largest of his groups' memory limits, named"},
                {{"b2", "bob", "ml research", 2, 1024, 200, 0, NULL},
                 "disk quota: 400G in use + 200G requested > 500G (limit of group research)" DELETE_ONLY,
                 "a disk limit only one group sets still applies"},
                {{"b2", "bob", "ml research", 2, 1024, 10, 1, "A100"}, NULL,
                 "an A100 does not count against the H100 limit"},
                {{"b3", "bob", "ml research", 2, 1024, 10, 1, NULL},
                 "GPU quota (any model): 5 in use + 1 requested > 5 (limit of group ml)" STOP_OR_DELETE,
                 "a GPU of any model counts against the 'any' limit"},
                {{"c1", "carol", "", 64, 1 << 20, 1000, 1, NULL}, NULL,
                 "carol has no limit anywhere: unlimited"},
        };
        char *ids[HD_ARRAY_SIZE(steps)] = {0};
        bool clean = true;

        set_quota(st, ORCH_QUOTA_USER, "alice", alice, HD_ARRAY_SIZE(alice));
        set_quota(st, ORCH_QUOTA_GROUP, "ml", ml, HD_ARRAY_SIZE(ml));
        set_quota(st, ORCH_QUOTA_GROUP, "research", research, HD_ARRAY_SIZE(research));
        for (size_t i = 0; i < HD_ARRAY_SIZE(steps); i++) {
                long long rows = raw_int(file, "SELECT count(*) FROM workspaces");
                long long held = raw_int(file, "SELECT count(*) FROM gpu_assignments");
                long long events = raw_int(file, "SELECT count(*) FROM events");
                hd_error err = {0};

                ids[i] = create(st, &steps[i].q, NULL, &err);
                if (!steps[i].refusal) {
                        if (!CHECK(ids[i] != NULL, steps[i].what))
                                printf("#   refused: %s\n", err.message);
                        continue;
                }
                CHECK(!ids[i] && err.code == HD_E_FORBIDDEN, steps[i].what);
                CHECK_STR(err.message, steps[i].refusal, "  with the exact refusal");
                clean &= raw_int(file, "SELECT count(*) FROM workspaces") == rows &&
                         raw_int(file, "SELECT count(*) FROM gpu_assignments") == held &&
                         raw_int(file, "SELECT count(*) FROM events") == events;
        }
        CHECK(clean, "every refusal left nothing: no row, no GPU claim, no event");
        for (size_t i = 0; i < HD_ARRAY_SIZE(steps); i++)
                free(ids[i]);
}

/* ---- stop, start, use --------------------------------------------------------------- */

static const orch_quota_entry *entry(const orch_quota_report *r, orch_quota_kind kind, const char *model)
{
        for (size_t i = 0; i < r->count; i++)
                if (r->items[i].kind == kind && (!model || strcasecmp(r->items[i].gpu_model, model) == 0))
                        return &r->items[i];
        return NULL;
}

/* "workspaces vcpus memory disk H100" use of a user, e.g. "2 4 2048 20 2". */
static char *use_of(orch_store *st, const char *user, const char *group)
{
        orch_quota_report r;
        char *s;

        if (orch_store_quota_report(st, user, &group, group ? 1 : 0, &r, NULL) < 0)
                return hd_strdup("error");
        s = hd_asprintf("%llu %llu %llu %llu %llu", (unsigned long long)entry(&r, ORCH_QUOTA_WORKSPACES, NULL)->used,
                        (unsigned long long)entry(&r, ORCH_QUOTA_VCPUS, NULL)->used,
                        (unsigned long long)entry(&r, ORCH_QUOTA_MEMORY, NULL)->used,
                        (unsigned long long)entry(&r, ORCH_QUOTA_DISK, NULL)->used,
                        (unsigned long long)entry(&r, ORCH_QUOTA_GPUS, ORCH_QUOTA_ANY_GPU)->used);
        orch_quota_report_free(&r);
        return s;
}

static int to_stopped(orch_store *st, const char *id)
{
        static const orch_ws_state path[] = {ORCH_WS_PROVISIONING, ORCH_WS_RUNNING, ORCH_WS_STOPPED};

        for (size_t i = 0; i < HD_ARRAY_SIZE(path); i++)
                if (orch_store_transition(st, id, ORCH_WS_ANY, path[i], NULL, NULL) < 0)
                        return -1;
        return 0;
}

static int start(orch_store *st, const char *id, hd_error *err)
{
        orch_admission adm = {0}; /* a start: the groups kept on the row */

        return orch_store_transition_admit(st, id, ORCH_WS_BIT(ORCH_WS_STOPPED) | ORCH_WS_BIT(ORCH_WS_FAILED),
                                           ORCH_WS_STARTING, "start requested", &adm, err);
}

/* Move every workspace that holds vCPUs, memory or GPUs to failed. */
static void fail_holding(orch_store *st)
{
        orch_workspace_list all = {0};
        orch_ws_filter f = {.states = ORCH_QUOTA_HOLDING};

        orch_store_workspace_list(st, &f, &all, NULL);
        for (size_t i = 0; i < all.count; i++)
                orch_store_transition(st, all.items[i].id, ORCH_WS_ANY, ORCH_WS_FAILED, "test", NULL);
        orch_workspace_list_free(&all);
}

static void test_stop_start(orch_store *st)
{
        orch_quota_limit team[] = {L(VCPUS, 16), G("H100", 2)};
        request qa = {"e1", "erin", "team", 10, 4096, 50, 2, "H100"};
        request qb = {"e2", "erin", "team", 10, 4096, 30, 0, NULL};
        _cleanup_free_ char *a = NULL, *b = NULL, *u1 = NULL, *u2 = NULL, *u3 = NULL;
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        orch_quota_report r;
        hd_error err = {0};
        char **held = NULL;
        size_t n = 0;

        fail_holding(st);
        set_quota(st, ORCH_QUOTA_GROUP, "team", team, HD_ARRAY_SIZE(team));
        a = create(st, &qa, NULL, &err);
        CHECK(a != NULL, "erin (group team) gets 10 vCPUs and 2 H100");
        u1 = use_of(st, "erin", "team");
        CHECK_STR(u1, "1 10 4096 50 2", "her use: 1 workspace, 10 vCPUs, 4G, 50G of disk, 2 GPUs");
        b = create(st, &qb, NULL, &err);
        CHECK(!b && err.code == HD_E_FORBIDDEN && strstr(err.message, "vCPU quota: 10 in use + 10 requested > 16"),
              "a second 10 vCPUs is over her group's 16");
        CHECK(a && to_stopped(st, a) == 0, "her first workspace stops");
        u2 = use_of(st, "erin", "team");
        CHECK_STR(u2, "1 0 0 50 0", "a stopped workspace gives back vCPUs, memory and GPUs, and keeps its disk");
        b = create(st, &qb, NULL, &err);
        CHECK(b != NULL, "so the second one is admitted now");
        err = (hd_error){0};
        CHECK(start(st, a, &err) < 0 && err.code == HD_E_FORBIDDEN, "starting the first again is refused");
        CHECK_STR(err.message, "vCPU quota: 10 in use + 10 requested > 16 (limit of group team)" STOP_OR_DELETE,
                  "a start is admitted again, under the groups kept at create");
        ws = orch_store_workspace_get(st, a, NULL);
        CHECK(ws && ws->state == ORCH_WS_STOPPED && orch_store_gpu_held(st, a, &held, &n, NULL) == 0 && n == 0,
              "a refused start leaves the workspace stopped, holding no GPU");
        CHECK(b && to_stopped(st, b) == 0 && start(st, a, &err) == 0, "once the other stops, the start is admitted");
        orch_gpu_addresses_free(held, n);
        CHECK(orch_store_gpu_held(st, a, &held, &n, NULL) == 0 && n == 2, "with its 2 GPUs claimed again");
        orch_gpu_addresses_free(held, n);
        u3 = use_of(st, "erin", "team");
        CHECK_STR(u3, "2 10 4096 80 2", "use counts both disks, one running workspace");
        CHECK(orch_store_quota_report(st, "erin", NULL, 0, &r, NULL) == 0 &&
                      !entry(&r, ORCH_QUOTA_VCPUS, NULL)->limited,
              "the report of erin outside her group has no limit");
        orch_quota_report_free(&r);
        CHECK(orch_store_transition(st, a, ORCH_WS_ANY, ORCH_WS_FAILED, "test", NULL) == 0 &&
                      orch_store_transition(st, b, ORCH_WS_ANY, ORCH_WS_DELETING, NULL, NULL) == 0,
              "one fails, the other is being deleted");
        free(u3);
        u3 = use_of(st, "erin", "team");
        CHECK_STR(u3, "1 0 0 50 0", "a failed workspace counts like a stopped one; a deleting one not at all");
}

/* ---- host capacity ------------------------------------------------------------------- */

static void test_host(orch_store *st, const char *file)
{
        orch_host_capacity host = {.cpus = 4, .vcpu_overcommit = 2, .memory_mib = 9216, .reserved_mib = 1024,
                                   .memory_overcommit = 1};
        request q1 = {"h1", "hank", "", 6, 4096, 10, 0, NULL};
        request q2 = {"h2", "ivy", "", 3, 1024, 10, 0, NULL};
        request q3 = {"h3", "ivy", "", 2, 5120, 10, 0, NULL};
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        long long rows;
        hd_error err = {0};

        fail_holding(st); /* only this test's workspaces hold vCPUs and memory */
        a = create(st, &q1, &host, &err);
        CHECK(a != NULL, "6 of the host's 8 vCPUs (4 CPUs x 2)");
        rows = raw_int(file, "SELECT count(*) FROM workspaces");
        b = create(st, &q2, &host, &err);
        CHECK(!b && err.code == HD_E_NO_RESOURCES, "3 more, from another owner, is over the host's capacity: 503");
        CHECK_STR(err.message,
                  "host vCPU capacity: 6 in use + 3 requested > 8 (4 CPUs x vcpu_overcommit 2); try fewer vCPUs or "
                  "later",
                  "naming the shortfall");
        c = create(st, &q3, &host, &err);
        CHECK_STR(err.message,
                  "host memory capacity: 4G in use + 5G requested > 8G ((9G - reserved_memory 1G) x "
                  "memory_overcommit 1); try less memory or later",
                  "memory beyond the host less its reserve is refused too");
        CHECK(!c && raw_int(file, "SELECT count(*) FROM workspaces") == rows, "leaving no row");
        free(b);
        q2.vcpus = 2;
        b = create(st, &q2, &host, &err);
        CHECK(b != NULL, "2 more fit exactly");
}

/* ---- concurrency --------------------------------------------------------------------- */

#define RACERS 50

typedef struct racer {
        const char *owner;
        int i;
        pthread_barrier_t *barrier;
        bool admitted;
        hd_error err;
} racer;

static void *race_one(void *arg)
{
        racer *r = arg;
        orch_store *st = open_store("race.db", false);
        char name[32];
        request q;
        char *id;

        snprintf(name, sizeof(name), "%s-%d", r->owner, r->i);
        q = (request){name, r->owner, "racers", 2, 1024, 10, 1, "H100"};
        pthread_barrier_wait(r->barrier);
        id = st ? create(st, &q, NULL, &r->err) : NULL;
        r->admitted = id != NULL;
        free(id);
        orch_store_close(st);
        return NULL;
}

/* RACERS creates of 2 vCPUs and 1 H100 each at once, each on its own handle. */
static int race(const char *owner, int *refused)
{
        pthread_barrier_t barrier;
        pthread_t t[RACERS];
        racer r[RACERS];
        int admitted = 0;

        *refused = 0;
        pthread_barrier_init(&barrier, NULL, RACERS);
        for (int i = 0; i < RACERS; i++) {
                r[i] = (racer){.owner = owner, .i = i, .barrier = &barrier};
                pthread_create(&t[i], NULL, race_one, &r[i]);
        }
        for (int i = 0; i < RACERS; i++)
                pthread_join(t[i], NULL);
        pthread_barrier_destroy(&barrier);
        for (int i = 0; i < RACERS; i++) {
                admitted += r[i].admitted;
                *refused += !r[i].admitted && r[i].err.code == HD_E_FORBIDDEN;
                if (!r[i].admitted && r[i].err.code != HD_E_FORBIDDEN)
                        printf("# racer %d: %s\n", i, r[i].err.message);
        }
        return admitted;
}

static void test_concurrent(void)
{
        orch_store *st = open_store("race.db", true);
        orch_quota_limit vcpus[] = {L(VCPUS, 8)};
        orch_quota_limit gpus[] = {G("H100", 3)};
        int admitted, refused;
        struct timespec t0, t1;

        if (!st)
                return;
        set_quota(st, ORCH_QUOTA_USER, "racer", vcpus, 1);
        set_quota(st, ORCH_QUOTA_USER, "gpuracer", gpus, 1);
        orch_store_close(st);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        admitted = race("racer", &refused);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("# %d creates on %d handles at once: %.0f ms\n", RACERS, RACERS,
               (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
        CHECK(admitted == 4 && refused == RACERS - 4,
              "50 concurrent creates of 2 vCPUs under a quota of 8: exactly 4 admitted, the rest refused by quota");
        CHECK(raw_int("race.db", "SELECT count(*) FROM workspaces WHERE owner = 'racer'") == 4 &&
                      raw_int("race.db", "SELECT sum(vcpus) FROM workspaces WHERE owner = 'racer'") == 8,
              "the store holds 4 rows and 8 vCPUs for that user");
        admitted = race("gpuracer", &refused);
        CHECK(admitted == 3 && refused == RACERS - 3,
              "50 concurrent creates of 1 H100 under a quota of 3 (4 H100 still free): exactly 3 admitted");
        CHECK(raw_int("race.db", "SELECT count(*) FROM gpu_assignments a JOIN workspaces w ON w.id = a.workspace_id"
                                 " WHERE w.owner = 'gpuracer'") == 3 &&
                      raw_int("race.db", "SELECT count(*) FROM workspaces WHERE owner = 'gpuracer'") == 3,
              "3 rows, 3 GPUs held: no refused create left a claim behind");
}

/* ---- template groups ------------------------------------------------------------------ */

static void test_template_groups(orch_store *st)
{
        static const char tpl[] = "{\"name\": \"gpu-big\", \"image\": \"cuda\", \"vcpus\": 2, \"memory\": \"1G\","
                                  " \"disk\": \"10G\", \"groups\": [\"ml\", \"research\"]}";
        struct orch_service svc = {.store = st};
        const char *mine[] = {"staff", "research"}, *other[] = {"staff"};
        orch_template_errors errs = {0};
        orch_template_choice c = {0};
        orch_create_req r = {.template_name = "gpu-big", .owner = "dan", .owner_groups = mine, .n_owner_groups = 2};
        hd_error err = {0};

        CHECK(orch_template_push(&svc, tpl, strlen(tpl), "admin", NULL, NULL, &errs, &err) == 0,
              "a template for groups ml and research is pushed");
        CHECK(orch_template_resolve_create(&svc, &r, &c, &err) == 0 && r.vcpus == 2,
              "a member of one of its groups may use it");
        orch_template_choice_clear(&c);
        r = (orch_create_req){.template_name = "gpu-big", .owner = "dan", .owner_groups = other, .n_owner_groups = 1};
        CHECK(orch_template_resolve_create(&svc, &r, &c, &err) < 0 && err.code == HD_E_FORBIDDEN,
              "a user in none of its groups is refused: 403");
        CHECK_STR(err.message,
                  "template 'gpu-big' may only be used by members of groups ml, research, and dan is in none of them",
                  "naming the template and the groups allowed");
        orch_template_choice_clear(&c);
        r.bypass_template_groups = true;
        CHECK(orch_template_resolve_create(&svc, &r, &c, &err) == 0, "an admin (bypass) may use it");
        orch_template_choice_clear(&c);
}

int main(void)
{
        orch_store *st;

        if (!mkdtemp(dir))
                return 1;
        st = open_store("quota.db", true);
        CHECK(st != NULL, "a store with 8 H100 and an A100");
        if (st) {
                test_limits(st);
                test_admission_table(st, "quota.db");
                test_stop_start(st);
                test_host(st, "quota.db");
                test_template_groups(st);
                orch_store_close(st);
        }
        test_concurrent();
        hd_run((const char *const[]){"rm", "-rf", dir, NULL}, NULL, NULL);
        return tl_done();
}

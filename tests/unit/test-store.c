/* test-store.c — the store as its callers use it: schema at open, the file's
 * settings and mode, images, workspaces, the state machine and the event log.
 * (Threads and crashes: test-store-crash.c.) */
#include "common/common.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

#include <sqlite3.h>
#include <sys/stat.h>

static char dir[] = "/tmp/hostd-test-store-XXXXXX";
static char *db_path;

/* Ask the file itself, through a connection of our own. */
static char *raw_pragma(const char *sql)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        char *out = NULL;

        if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW)
                out = hd_strdup((const char *)sqlite3_column_text(stmt, 0));
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        return out;
}

static orch_image image(const char *name)
{
        return (orch_image){.name = (char *)name, .format = (char *)"qcow2",
                            .sha256 = (char *)"5e1f", .virtual_size = 10ull << 30,
                            .file_size = 700ull << 20};
}

static orch_workspace spec(const char *name)
{
        return (orch_workspace){.name = (char *)name, .owner = (char *)"alice",
                                .image = (char *)"debian-12", .template_name = (char *)"small",
                                .vcpus = 2, .memory_mib = 2048, .disk_gib = 20,
                                .ssh_user = (char *)"dev"};
}

static size_t count_events(orch_store *st, const char *id)
{
        orch_event_list ev;
        size_t n;

        if (orch_store_event_list(st, id, 0, 0, &ev, NULL) < 0)
                return (size_t)-1;
        n = ev.count;
        orch_event_list_free(&ev);
        return n;
}

static void test_open(void)
{
        _cleanup_free_ char *wal = NULL, *mode = NULL, *version = NULL, *wal_path = NULL;
        hd_error err = {0};
        orch_store *st;
        struct stat sb;
        int v;

        st = orch_store_open(db_path, &err);
        CHECK(st != NULL, "a store opens on a file that does not exist yet");
        if (!st) {
                exit(1);
        }
        v = orch_store_schema_version(st);
        CHECK(v >= 1, "the schema is brought to a version at open");
        CHECK(orch_store_image_insert(st, &(orch_image){.name = (char *)"x", .format = (char *)"raw",
                                                        .sha256 = (char *)"00"},
                                      &err) == 0,
              "the new schema accepts rows");
        CHECK(stat(db_path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
              "the database file is created mode 0600");
        wal_path = hd_asprintf("%s-wal", db_path);
        CHECK(stat(wal_path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
              "its write-ahead log is mode 0600 too");
        orch_store_close(st);

        st = orch_store_open(db_path, &err);
        CHECK(st && orch_store_schema_version(st) == v, "reopening keeps the schema version");
        {
                _cleanup_(orch_image_freep) orch_image *img =
                        st ? orch_store_image_get(st, "x", &err) : NULL;
                CHECK(img && strcmp(img->format, "raw") == 0, "rows survive a reopen");
        }
        orch_store_close(st);

        wal = raw_pragma("PRAGMA journal_mode");
        CHECK_STR(wal, "wal", "the database is in WAL mode");
        version = raw_pragma("PRAGMA user_version");
        CHECK(version && atoi(version) == v, "the file carries the schema version");

        /* A database from a newer hostd. */
        {
                _cleanup_free_ char *bump = hd_asprintf("PRAGMA user_version = %d", v + 7);
                _cleanup_free_ char *after = NULL;
                char *r = raw_pragma(bump);

                free(r);
                st = orch_store_open(db_path, &err);
                CHECK(st == NULL && err.code == HD_E_STORE,
                      "a database newer than the code is refused");
                CHECK_CONTAINS(err.message, "newer", "the refusal says the database is newer");
                after = raw_pragma("PRAGMA user_version");
                CHECK(after && atoi(after) == v + 7, "a refused database is left as it was");
                orch_store_close(st);
                free(bump);
                bump = hd_asprintf("PRAGMA user_version = %d", v);
                free(raw_pragma(bump));
        }
}

static void test_not_a_database(void)
{
        _cleanup_free_ char *junk = hd_path_join(dir, "junk.db");
        hd_error err = {0};
        orch_store *st;

        hd_write_file_atomic(junk, "this is not sqlite, not at all, no header here", 46, 0600, &err);
        st = orch_store_open(junk, &err);
        CHECK(st == NULL && err.code == HD_E_STORE, "a file that is not a database is refused");
        CHECK_CONTAINS(err.message, junk, "the refusal names the file");
        orch_store_close(st);
        st = orch_store_open("postgresql://db/hostd", &err);
        CHECK(st == NULL && err.code == HD_E_INVALID, "an unsupported backend is refused plainly");
}

static void test_images(orch_store *st)
{
        orch_image a = image("debian-12"), b = image("alma-9");
        _cleanup_(orch_image_freep) orch_image *got = NULL;
        orch_image_list list;
        hd_error err = {0};

        CHECK(orch_store_image_insert(st, &a, &err) == 0, "an image is added");
        CHECK(orch_store_image_insert(st, &b, &err) == 0, "a second image is added");
        CHECK(orch_store_image_insert(st, &a, &err) == -1 && err.code == HD_E_CONFLICT,
              "adding an image name twice is a conflict");
        CHECK_CONTAINS(err.message, "debian-12", "the conflict names the image");
        got = orch_store_image_get(st, "debian-12", &err);
        CHECK(got && got->virtual_size == 10ull << 30 && got->file_size == 700ull << 20 &&
                      strcmp(got->sha256, "5e1f") == 0 && got->imported_at > 0,
              "an image reads back with its sizes, checksum and import time");
        CHECK(orch_store_image_get(st, "nope", &err) == NULL && err.code == HD_E_NOT_FOUND,
              "an unknown image is not found");
        CHECK(orch_store_image_list(st, &list, &err) == 0 && list.count == 3 &&
                      strcmp(list.items[0].name, "alma-9") == 0,
              "images are listed by name");
        orch_image_list_free(&list);
        CHECK(orch_store_image_delete(st, "alma-9", &err) == 0, "an unused image is deleted");
        CHECK(orch_store_image_delete(st, "alma-9", &err) == -1 && err.code == HD_E_NOT_FOUND,
              "deleting it again: not found");
}

static void test_workspaces(orch_store *st)
{
        orch_workspace s = spec("dev1");
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL, *by_name = NULL, *found = NULL;
        orch_workspace_list list;
        hd_error err = {0};

        ws = orch_store_workspace_create(st, &s, &err);
        CHECK(ws != NULL, "a workspace is created");
        if (!ws)
                return;
        CHECK(orch_ws_id_valid(ws->id) && strncmp(ws->id, "ws-", 3) == 0,
              "it gets an id ws- and 16 hex digits");
        CHECK(ws->state == ORCH_WS_PENDING, "a new workspace is pending");
        CHECK(ws->vcpus == 2 && ws->memory_mib == 2048 && ws->disk_gib == 20 &&
                      strcmp(ws->template_name, "small") == 0 && strcmp(ws->ssh_user, "dev") == 0,
              "it keeps what it was asked with");
        CHECK(ws->created_at > 0 && ws->state_changed_at == ws->created_at && ws->deleted_at == 0,
              "its times are set");
        CHECK(orch_store_workspace_create(st, &s, &err) == NULL && err.code == HD_E_CONFLICT,
              "a second workspace with the same name is a conflict");
        CHECK_CONTAINS(err.message, "a workspace named dev1 already exists", "the conflict names it");

        s = spec("dev2");
        s.image = (char *)"no-such-image";
        CHECK(orch_store_workspace_create(st, &s, &err) == NULL && err.code == HD_E_NOT_FOUND,
              "a workspace on an unknown image is refused");
        CHECK_CONTAINS(err.message, "no-such-image", "the refusal names the image");
        s = spec("");
        CHECK(orch_store_workspace_create(st, &s, &err) == NULL && err.code == HD_E_INVALID,
              "a workspace without a name is refused");

        by_name = orch_store_workspace_get_by_name(st, "dev1", &err);
        CHECK(by_name && strcmp(by_name->id, ws->id) == 0, "a workspace is found by name");
        found = orch_store_workspace_find(st, ws->id, &err);
        CHECK(found && strcmp(found->name, "dev1") == 0, "find takes an id");
        orch_workspace_free(found);
        found = orch_store_workspace_find(st, "dev1", &err);
        CHECK(found && strcmp(found->id, ws->id) == 0, "find takes a name");
        CHECK(orch_store_workspace_find(st, "ws-0000000000000000", &err) == NULL &&
                      err.code == HD_E_NOT_FOUND,
              "find of an unknown id is not found");

        s = spec("build");
        s.owner = (char *)"bob";
        orch_workspace_free(orch_store_workspace_create(st, &s, NULL));
        CHECK(orch_store_workspace_list(st, NULL, &list, &err) == 0 && list.count == 2 &&
                      strcmp(list.items[0].name, "build") == 0,
              "workspaces are listed by name");
        orch_workspace_list_free(&list);
        CHECK(orch_store_workspace_list(st, &(orch_ws_filter){.owner = "bob"}, &list, &err) == 0 &&
                      list.count == 1 && strcmp(list.items[0].owner, "bob") == 0,
              "a list can be limited to one owner");
        orch_workspace_list_free(&list);
        CHECK(orch_store_workspace_list(st, &(orch_ws_filter){.states = ORCH_WS_BIT(ORCH_WS_READY)},
                                        &list, &err) == 0 &&
                      list.count == 0,
              "a list can be limited to some states");
        orch_workspace_list_free(&list);
}

static void test_update(orch_store *st)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        hd_error err = {0};

        CHECK(orch_store_workspace_update(st, "ws-0000000000000000", &(orch_ws_update){0}, &err) ==
                              -1 &&
                      err.code == HD_E_NOT_FOUND,
              "updating an unknown workspace: not found");
        ws = orch_store_workspace_get_by_name(st, "dev1", &err);
        if (!ws)
                return;
        CHECK(orch_store_workspace_update(st, ws->id,
                                          &(orch_ws_update){.ip_addresses = "[\"10.0.0.5\"]",
                                                            .last_heartbeat = "{\"load\":0.5}",
                                                            .last_heartbeat_at = 1700000000,
                                                            .agent_token_hash = "abc"},
                                          &err) == 0,
              "IP addresses, a heartbeat and a token hash are stored");
        orch_workspace_free(ws);
        ws = orch_store_workspace_get_by_name(st, "dev1", &err);
        CHECK(ws && strcmp(ws->ip_addresses, "[\"10.0.0.5\"]") == 0 &&
                      strcmp(ws->last_heartbeat, "{\"load\":0.5}") == 0 &&
                      ws->last_heartbeat_at == 1700000000 && strcmp(ws->agent_token_hash, "abc") == 0,
              "they read back");
        CHECK(orch_store_workspace_update(st, ws->id, &(orch_ws_update){.ip_addresses = "[oops"},
                                          &err) == -1 &&
                      err.code == HD_E_INVALID,
              "IP addresses that are not JSON are refused");
        CHECK(orch_store_workspace_update(st, ws->id, &(orch_ws_update){.ip_addresses = ""}, &err) ==
                      0,
              "an empty string clears a field");
        orch_workspace_free(ws);
        ws = orch_store_workspace_get_by_name(st, "dev1", &err);
        CHECK(ws && ws->ip_addresses == NULL && strcmp(ws->agent_token_hash, "abc") == 0,
              "the cleared field is gone, the others stay");
}

/* Walk dev1 through its life and check the table at each step. */
static void test_transitions(orch_store *st)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        hd_error err = {0};
        orch_ws_state path[] = {ORCH_WS_PROVISIONING, ORCH_WS_RUNNING, ORCH_WS_READY,
                                ORCH_WS_STOPPING,     ORCH_WS_STOPPED, ORCH_WS_STARTING,
                                ORCH_WS_RUNNING};
        bool all_ok = true, one_event_each = true;
        size_t before;

        ws = orch_store_workspace_get_by_name(st, "dev1", &err);
        if (!ws)
                return;
        before = count_events(st, ws->id);
        CHECK(before == 1, "creation logs one event");
        for (size_t i = 0; i < HD_ARRAY_SIZE(path); i++) {
                all_ok &= orch_store_transition(st, ws->id, ORCH_WS_ANY, path[i], NULL, &err) == 0;
                one_event_each &= count_events(st, ws->id) == before + i + 1;
        }
        CHECK(all_ok, "the lifecycle pending .. running .. stopped .. running is legal");
        CHECK(one_event_each, "each state change writes exactly one event");

        orch_workspace_free(ws);
        ws = orch_store_workspace_get_by_name(st, "dev1", &err);
        before = count_events(st, ws->id);
        CHECK(orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_PENDING, "x", &err) == -1 &&
                      err.code == HD_E_CONFLICT,
              "an illegal move (running -> pending) is refused as a conflict");
        CHECK_CONTAINS(err.message, "running", "the refusal names the current state");
        CHECK_CONTAINS(err.message, "pending", "the refusal names the wanted state");
        CHECK(orch_store_transition(st, ws->id, ORCH_WS_BIT(ORCH_WS_STOPPED), ORCH_WS_STARTING,
                                    "x", &err) == -1 &&
                      err.code == HD_E_CONFLICT,
              "a move from a state the workspace is not in is refused");
        CHECK_CONTAINS(err.message, "is running, not stopped",
                       "the refusal says what it is and what was expected");
        {
                _cleanup_(orch_workspace_freep) orch_workspace *now =
                        orch_store_workspace_get(st, ws->id, &err);
                CHECK(now && now->state == ORCH_WS_RUNNING && now->updated_at == ws->updated_at &&
                              now->reason == NULL && count_events(st, ws->id) == before,
                      "a refused move changes nothing and logs nothing");
        }
        CHECK(orch_store_transition(st, ws->id,
                                    ORCH_WS_BIT(ORCH_WS_RUNNING) | ORCH_WS_BIT(ORCH_WS_READY),
                                    ORCH_WS_FAILED, "disk full", &err) == 0,
              "a move with a set of expected states succeeds");
        orch_workspace_free(ws);
        ws = orch_store_workspace_get_by_name(st, "dev1", &err);
        CHECK(ws && ws->state == ORCH_WS_FAILED && strcmp(ws->reason, "disk full") == 0,
              "the state and its reason are stored");
        {
                orch_event_list ev;
                CHECK(orch_store_event_list(st, ws->id, 0, 0, &ev, &err) == 0 && ev.count > 0 &&
                              strcmp(ev.items[ev.count - 1].kind, "state") == 0 &&
                              strcmp(ev.items[ev.count - 1].from_state, "running") == 0 &&
                              strcmp(ev.items[ev.count - 1].to_state, "failed") == 0 &&
                              strcmp(ev.items[ev.count - 1].reason, "disk full") == 0,
                      "the event says from, to and why");
                orch_event_list_free(&ev);
        }
        {
                orch_event_list all, page1, page2;
                bool paged = orch_store_event_list(st, ws->id, 0, 0, &all, &err) == 0 &&
                             orch_store_event_list(st, ws->id, 0, 3, &page1, &err) == 0 &&
                             page1.count == 3 &&
                             orch_store_event_list(st, ws->id, page1.items[2].id, 0, &page2,
                                                   &err) == 0 &&
                             page1.count + page2.count == all.count &&
                             page2.items[0].id > page1.items[2].id &&
                             strcmp(page1.items[0].kind, "created") == 0;
                CHECK(paged, "the log reads in pages, oldest first");
                orch_event_list_free(&all);
                orch_event_list_free(&page1);
                orch_event_list_free(&page2);
        }
        CHECK(orch_store_transition(st, "ws-0000000000000000", ORCH_WS_ANY, ORCH_WS_FAILED, NULL,
                                    &err) == -1 &&
                      err.code == HD_E_NOT_FOUND,
              "moving an unknown workspace: not found");
}

static void test_table(void)
{
        orch_ws_state s;

        CHECK(!orch_ws_transition_allowed(ORCH_WS_DELETED, ORCH_WS_FAILED) &&
                      !orch_ws_transition_allowed(ORCH_WS_DELETED, ORCH_WS_DELETING),
              "deleted is final");
        CHECK(orch_ws_transition_allowed(ORCH_WS_STOPPED, ORCH_WS_DELETING) &&
                      orch_ws_transition_allowed(ORCH_WS_PENDING, ORCH_WS_FAILED) &&
                      orch_ws_transition_allowed(ORCH_WS_FAILED, ORCH_WS_DELETING),
              "any live state can be deleted or fail");
        CHECK(!orch_ws_transition_allowed(ORCH_WS_STOPPED, ORCH_WS_RUNNING),
              "a stopped workspace goes through starting");
        CHECK(orch_ws_state_from_name("ready", &s, NULL) == 0 && s == ORCH_WS_READY &&
                      strcmp(orch_ws_state_name(ORCH_WS_PROVISIONING), "provisioning") == 0,
              "states convert to and from their names");
        CHECK(orch_ws_state_from_name("runing", &s, NULL) == -1, "an unknown state name is refused");
}

/* Delete dev1 and check what stays: its name is free, its row and log stay. */
static void test_delete(orch_store *st)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL, *again = NULL, *old = NULL;
        orch_workspace s = spec("dev1");
        hd_error err = {0};

        CHECK(orch_store_image_delete(st, "debian-12", &err) == -1 && err.code == HD_E_CONFLICT,
              "an image that workspaces use cannot be deleted");
        CHECK_CONTAINS(err.message, "dev1", "the refusal names the workspaces that use it");
        ws = orch_store_workspace_get_by_name(st, "dev1", &err);
        if (!ws)
                return;
        CHECK(orch_store_workspace_purge(st, ws->id, &err) == -1 && err.code == HD_E_CONFLICT,
              "a workspace not deleted cannot be purged");
        orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_DELETING, NULL, &err);
        CHECK(orch_store_transition(st, ws->id, ORCH_WS_BIT(ORCH_WS_DELETING), ORCH_WS_DELETED, NULL,
                                    &err) == 0,
              "deleting -> deleted");
        old = orch_store_workspace_get(st, ws->id, &err);
        CHECK(old && old->state == ORCH_WS_DELETED && old->deleted_at > 0,
              "a deleted workspace is kept, with the time it was deleted");
        CHECK(orch_store_workspace_get_by_name(st, "dev1", &err) == NULL && err.code == HD_E_NOT_FOUND,
              "a deleted workspace is not found by name");
        again = orch_store_workspace_create(st, &s, &err);
        CHECK(again && strcmp(again->id, ws->id) != 0, "the name of a deleted workspace can be reused");
        CHECK(orch_store_workspace_update(st, ws->id, &(orch_ws_update){.agent_token_hash = "x"},
                                          &err) == -1 &&
                      err.code == HD_E_CONFLICT,
              "a deleted workspace cannot be updated");
        CHECK(orch_store_event_add(st, again->id, "gpu.attach", NULL, "{\"gpu\":\"0000:3b:00.0\"}",
                                   &err) == 0,
              "an operation is logged");
        CHECK(orch_store_event_add(st, again->id, "Bad Kind", NULL, NULL, &err) == -1 &&
                      err.code == HD_E_INVALID,
              "an event kind outside [a-z0-9_.] is refused");
        CHECK(orch_store_workspace_purge(st, ws->id, &err) == 0, "a deleted workspace is purged");
        CHECK(orch_store_workspace_get(st, ws->id, &err) == NULL && err.code == HD_E_NOT_FOUND,
              "a purged workspace is gone");
        CHECK(count_events(st, ws->id) >= 10, "its event log stays after the purge");

        {
                orch_workspace_list list;

                orch_store_workspace_list(st, NULL, &list, &err);
                for (size_t i = 0; i < list.count; i++) {
                        orch_store_transition(st, list.items[i].id, ORCH_WS_ANY,
                                              ORCH_WS_DELETING, NULL, &err);
                        orch_store_transition(st, list.items[i].id, ORCH_WS_ANY, ORCH_WS_DELETED,
                                              NULL, &err);
                }
                orch_workspace_list_free(&list);
        }
        CHECK(orch_store_image_delete(st, "debian-12", &err) == 0,
              "an image used only by deleted workspaces can be deleted");
        orch_workspace_free(old);
        old = orch_store_workspace_get(st, again->id, &err);
        CHECK(old && old->image == NULL, "the deleted workspace no longer points at it");
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", dir, NULL};
        hd_error err = {0};
        orch_store *st;

        if (!mkdtemp(dir))
                return 1;
        db_path = hd_path_join(dir, "hostd.db");
        test_open();
        test_not_a_database();
        test_table();
        st = orch_store_open(db_path, &err);
        CHECK(st != NULL, "the store reopens after the checks above");
        if (st) {
                test_images(st);
                test_workspaces(st);
                test_update(st);
                test_transitions(st);
                test_delete(st);
                orch_store_close(st);
        }
        hd_run(rm, NULL, NULL);
        free(db_path);
        return tl_done();
}

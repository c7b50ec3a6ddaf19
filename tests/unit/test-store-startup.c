/* test-store-startup.c — a workspace's startup script run in the store:
 * none until recorded, pending to running to a result with its output (read
 * only when asked for), nulls kept as nulls, survival across a reopen,
 * refusals for unknown and deleted workspaces, a status the table refuses,
 * and the row gone with its workspace when that is purged. */
#include "common/common.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

static char dir[] = "/tmp/hostd-test-store-startup-XXXXXX";

static orch_workspace *make_ws(orch_store *st, const char *name)
{
        orch_workspace spec = {.name = (char *)name, .owner = (char *)"bob", .image = (char *)"debian-12",
                               .vcpus = 2, .memory_mib = 512, .disk_gib = 1};

        return orch_store_workspace_create(st, &spec, NULL);
}

static void test_round_trip(orch_store *st, char **id_out)
{
        orch_image img = {.name = (char *)"debian-12", .format = (char *)"qcow2", .sha256 = (char *)"5e1f",
                          .virtual_size = 1, .file_size = 1};
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        orch_ws_startup su = {0}, got = {0};
        hd_error err = {0};

        CHECK(orch_store_image_insert(st, &img, &err) == 0, "an image for the workspaces");
        ws = make_ws(st, "w1");
        if (!CHECK(ws != NULL, "a workspace"))
                return;
        CHECK(orch_store_startup_get(st, ws->id, true, &got, &err) == 0, "a new workspace has no startup script run");

        su = (orch_ws_startup){.status = ORCH_STARTUP_PENDING, .exit_status = -1, .timeout_s = 3600};
        CHECK(orch_store_startup_set(st, ws->id, &su, &err) == 0, "a pending run is recorded");
        CHECK(orch_store_startup_get(st, ws->id, true, &got, &err) == 1 && got.status == ORCH_STARTUP_PENDING &&
                      got.exit_status == -1 && got.signal == 0 && got.started_at == 0 && got.finished_at == 0 &&
                      got.timeout_s == 3600 && got.output == NULL && got.note == NULL && got.updated_at > 0,
              "it reads back pending, with no exit status, times or output");
        orch_ws_startup_clear(&got);

        su = (orch_ws_startup){.status = ORCH_STARTUP_SUCCEEDED, .exit_status = 0, .started_at = 1700000000,
                               .finished_at = 1700000012, .timeout_s = 3600, .output = (char *)"line 1\nligne \xc3\xa9\n",
                               .output_bytes = 70000, .output_truncated = true};
        CHECK(orch_store_startup_set(st, ws->id, &su, &err) == 0, "the result replaces it");
        CHECK(orch_store_startup_get(st, ws->id, false, &got, &err) == 1 && got.status == ORCH_STARTUP_SUCCEEDED &&
                      got.exit_status == 0 && got.started_at == 1700000000 && got.finished_at == 1700000012 &&
                      got.output == NULL && got.output_bytes == 70000 && got.output_truncated,
              "the summary reads back without the output");
        orch_ws_startup_clear(&got);
        CHECK(orch_store_startup_get(st, ws->id, true, &got, &err) == 1 && got.output &&
                      strcmp(got.output, su.output) == 0,
              "the output reads back exactly when asked for");
        orch_ws_startup_clear(&got);

        su = (orch_ws_startup){.status = ORCH_STARTUP_TIMED_OUT, .exit_status = -1, .signal = 9,
                               .started_at = 1700000000, .finished_at = 1700003600, .timeout_s = 3600,
                               .output = (char *)"", .note = (char *)"a note"};
        CHECK(orch_store_startup_set(st, ws->id, &su, &err) == 0 &&
                      orch_store_startup_get(st, ws->id, true, &got, &err) == 1 &&
                      got.status == ORCH_STARTUP_TIMED_OUT && got.exit_status == -1 && got.signal == 9 &&
                      got.note && strcmp(got.note, "a note") == 0 && got.output && !got.output[0],
              "a run ended by a signal keeps no exit status, the signal and the note");
        orch_ws_startup_clear(&got);
        *id_out = hd_strdup(ws->id);

        CHECK(orch_store_startup_set(st, "ws-0000000000000000", &su, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "recording a run for an unknown workspace says not found");
        CHECK(orch_store_startup_get(st, "ws-0000000000000000", true, &got, &err) == 0,
              "an unknown workspace has no run");
        su.status = ORCH_STARTUP__COUNT;
        CHECK(orch_store_startup_set(st, ws->id, &su, &err) < 0, "a status outside the enum is refused");
}

static void test_deleted_and_purged(orch_store *st)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = make_ws(st, "w2");
        orch_ws_startup su = {.status = ORCH_STARTUP_RUNNING, .exit_status = -1, .started_at = 1700000000};
        orch_ws_startup got = {0};
        hd_error err = {0};

        CHECK(ws && orch_store_startup_set(st, ws->id, &su, &err) == 0, "a running run is recorded");
        CHECK(ws && orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_DELETING, NULL, &err) == 0 &&
                      orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_DELETED, NULL, &err) == 0,
              "the workspace is deleted");
        CHECK(ws && orch_store_startup_set(st, ws->id, &su, &err) < 0 && err.code == HD_E_CONFLICT,
              "a deleted workspace's run is not changed");
        CHECK(ws && orch_store_workspace_purge(st, ws->id, &err) == 0, "the workspace row is purged");
        CHECK(ws && orch_store_startup_get(st, ws->id, true, &got, &err) == 0, "its startup run went with it");
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", dir, NULL};
        _cleanup_free_ char *db_path = NULL, *id = NULL;
        orch_ws_startup got = {0};
        hd_error err = {0};
        orch_store *st;

        if (!mkdtemp(dir))
                return 1;
        db_path = hd_path_join(dir, "hostd.db");
        st = orch_store_open(db_path, &err);
        CHECK(st != NULL, "the store opens");
        if (st) {
                test_round_trip(st, &id);
                test_deleted_and_purged(st);
                orch_store_close(st);
        }
        st = orch_store_open(db_path, &err);
        CHECK(st && id && orch_store_startup_get(st, id, true, &got, &err) == 1 &&
                      got.status == ORCH_STARTUP_TIMED_OUT,
              "the run survives closing and reopening the store");
        orch_ws_startup_clear(&got);
        orch_store_close(st);
        hd_run(rm, NULL, NULL);
        return tl_done();
}

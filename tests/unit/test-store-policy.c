/* test-store-policy.c — a workspace's idle and lifetime settings and the
 * policy engine's state in the store: defaults for a new row, a round trip,
 * survival across a reopen, and refusals for unknown and deleted rows. */
#include "common/common.h"
#include "orchestrator/policy.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

static char dir[] = "/tmp/hostd-test-store-policy-XXXXXX";

static orch_workspace *make_ws(orch_store *st, const char *name)
{
        orch_workspace spec = {.name = (char *)name, .owner = (char *)"bob",
                               .image = (char *)"debian-12", .vcpus = 2,
                               .memory_mib = 512, .disk_gib = 1};

        return orch_store_workspace_create(st, &spec, NULL);
}

static void test_round_trip(orch_store *st, char **id_out)
{
        orch_image img = {.name = (char *)"debian-12", .format = (char *)"qcow2",
                          .sha256 = (char *)"5e1f", .virtual_size = 1, .file_size = 1};
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        orch_ws_policy p = {0}, q = {0};
        orch_policy_state s, back;
        _cleanup_free_ char *text = NULL;
        hd_error err = {0};

        CHECK(orch_store_image_insert(st, &img, &err) == 0, "an image for the workspaces");
        ws = make_ws(st, "w1");
        CHECK(ws != NULL, "a workspace");
        if (!ws)
                return;
        CHECK(orch_store_policy_get(st, ws->id, &p, &err) == 0 && p.idle_timeout_s == 0 &&
                      p.lifetime_s == 0 && !p.lifetime_delete && p.state == NULL,
              "a new workspace has no idle stop, no lifetime and no engine state");
        orch_ws_policy_clear(&p);

        orch_policy_state_init(&s, 1700000000);
        orch_policy_started(&s, 1700000100);
        text = orch_policy_state_format(&s);
        p = (orch_ws_policy){.idle_timeout_s = 1800, .lifetime_s = 7200, .lifetime_delete = true,
                             .state = text};
        CHECK(orch_store_policy_set(st, ws->id, &p, &err) == 0, "the policy is stored");
        CHECK(orch_store_policy_get(st, ws->id, &q, &err) == 0 && q.idle_timeout_s == 1800 &&
                      q.lifetime_s == 7200 && q.lifetime_delete && q.state &&
                      strcmp(q.state, text) == 0,
              "settings and state read back as stored");
        CHECK(q.state && orch_policy_state_parse(q.state, &back, &err) == 0 &&
                      back.created_at == 1700000000 && back.running_since == 1700000100,
              "the stored state parses back into the engine's state");
        orch_ws_policy_clear(&q);

        p.state = NULL;
        p.lifetime_delete = false;
        CHECK(orch_store_policy_set(st, ws->id, &p, &err) == 0 &&
                      orch_store_policy_get(st, ws->id, &q, &err) == 0 && q.state == NULL &&
                      !q.lifetime_delete,
              "a NULL state clears it and the action goes back to stop");
        orch_ws_policy_clear(&q);
        p.state = text;
        CHECK(orch_store_policy_set(st, ws->id, &p, &err) == 0, "stored again");
        *id_out = hd_strdup(ws->id);

        CHECK(orch_store_policy_get(st, "ws-0000000000000000", &q, &err) < 0 &&
                      err.code == HD_E_NOT_FOUND,
              "reading an unknown workspace's policy says not found");
        CHECK(orch_store_policy_set(st, "ws-0000000000000000", &p, &err) < 0 &&
                      err.code == HD_E_NOT_FOUND,
              "writing an unknown workspace's policy says not found");
}

static void test_deleted(orch_store *st)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = make_ws(st, "w2");
        orch_ws_policy p = {.idle_timeout_s = 60};
        hd_error err = {0};

        CHECK(ws && orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_DELETING, NULL, &err) == 0 &&
                      orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_DELETED, NULL, &err) == 0,
              "a workspace deleted");
        CHECK(ws && orch_store_policy_set(st, ws->id, &p, &err) < 0 && err.code == HD_E_CONFLICT,
              "a deleted workspace's policy is not changed");
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", dir, NULL};
        _cleanup_free_ char *db_path = NULL, *id = NULL;
        orch_ws_policy p = {0};
        hd_error err = {0};
        orch_store *st;

        if (!mkdtemp(dir))
                return 1;
        db_path = hd_path_join(dir, "hostd.db");
        st = orch_store_open(db_path, &err);
        CHECK(st != NULL, "the store opens");
        if (st) {
                test_round_trip(st, &id);
                test_deleted(st);
                orch_store_close(st);
        }
        st = orch_store_open(db_path, &err);
        CHECK(st && id && orch_store_policy_get(st, id, &p, &err) == 0 && p.idle_timeout_s == 1800 &&
                      p.state != NULL,
              "the policy survives closing and reopening the store");
        orch_ws_policy_clear(&p);
        orch_store_close(st);
        hd_run(rm, NULL, NULL);
        return tl_done();
}

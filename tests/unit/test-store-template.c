/* test-store-template.c — template versions in the store: push order and the
 * current version, re-pushes, lookups by hash, listing, and delete refused
 * while a workspace made from the template is alive. */
#include "common/common.h"
#include "orchestrator/store.h"
#include "tests/testlib.h"

static char dir[] = "/tmp/hostd-test-store-template-XXXXXX";

static orch_template_version version(const char *name, const char *hash, const char *json)
{
        return (orch_template_version){.name = (char *)name, .hash = (char *)hash,
                                       .canonical_json = (char *)json,
                                       .pushed_by = (char *)"alice"};
}

static bool current_is(orch_store *st, const char *name, const char *hash)
{
        orch_template_version *v = orch_store_template_get(st, name, NULL, NULL);
        bool ok = v && strcmp(v->hash, hash) == 0;

        orch_template_version_free(v);
        return ok;
}

static void test_push(orch_store *st)
{
        orch_template_version a = version("gpu-box", "aaaa", "{\"v\":1}");
        orch_template_version b = version("gpu-box", "bbbb", "{\"v\":2}");
        orch_template_version bad = version("gpu-box", "cccc", "{not json");
        orch_template_version_list l;
        orch_template_version *v;
        hd_error err = {0};
        bool created = false;

        CHECK(orch_store_template_push(st, &a, &created, &err) == 0 && created,
              "a first push stores a new version");
        CHECK(current_is(st, "gpu-box", "aaaa"), "the only version is the current one");
        created = true;
        CHECK(orch_store_template_push(st, &a, &created, &err) == 0 && !created,
              "pushing the current version again adds nothing");
        CHECK(orch_store_template_push(st, &b, &created, &err) == 0 && created,
              "a changed template is a new version");
        CHECK(current_is(st, "gpu-box", "bbbb"),
              "the newest push is current, even within the same second");
        CHECK(orch_store_template_versions(st, "gpu-box", &l, &err) == 0 && l.count == 2 &&
                      strcmp(l.items[0].hash, "bbbb") == 0 &&
                      strcmp(l.items[1].hash, "aaaa") == 0,
              "versions are listed current first");
        orch_template_version_list_free(&l);

        v = orch_store_template_get(st, "gpu-box", "aaaa", &err);
        CHECK(v && strcmp(v->canonical_json, "{\"v\":1}") == 0 &&
                      strcmp(v->pushed_by, "alice") == 0 && v->pushed_at > 0,
              "an older version stays readable by its hash, with who pushed it and when");
        orch_template_version_free(v);

        CHECK(orch_store_template_push(st, &a, &created, &err) == 0 && !created &&
                      current_is(st, "gpu-box", "aaaa"),
              "re-pushing an older version makes it current again without a copy");
        CHECK(orch_store_template_versions(st, "gpu-box", &l, &err) == 0 && l.count == 2,
              "a re-push does not duplicate a version");
        orch_template_version_list_free(&l);

        CHECK(orch_store_template_push(st, &bad, NULL, &err) < 0 && err.code == HD_E_INVALID,
              "a version whose JSON is not JSON is refused");
        CHECK(orch_store_template_get(st, "gpu-box", "cccc", &err) == NULL &&
                      err.code == HD_E_NOT_FOUND,
              "a refused push stores nothing");
        CHECK_CONTAINS(err.message, "cccc", "a missing version is named");
        CHECK(orch_store_template_get(st, "nope", NULL, &err) == NULL &&
                      err.code == HD_E_NOT_FOUND,
              "an unknown template is not found");
        CHECK(orch_store_template_versions(st, "nope", &l, &err) < 0 &&
                      err.code == HD_E_NOT_FOUND,
              "an unknown template has no versions");
}

static void test_list_and_delete(orch_store *st)
{
        orch_template_version small = version("small", "1111", "{}");
        orch_image img = {.name = (char *)"debian-12", .format = (char *)"qcow2",
                          .sha256 = (char *)"5e1f", .virtual_size = 1, .file_size = 1};
        orch_workspace spec = {.name = (char *)"w1", .owner = (char *)"bob",
                               .image = (char *)"debian-12", .template_name = (char *)"small",
                               .template_version = (char *)"1111", .vcpus = 1,
                               .memory_mib = 512, .disk_gib = 1};
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        orch_template_version_list l;
        hd_error err = {0};

        CHECK(orch_store_template_push(st, &small, NULL, &err) == 0, "a second template");
        CHECK(orch_store_template_list(st, &l, &err) == 0 && l.count == 2 &&
                      strcmp(l.items[0].name, "gpu-box") == 0 &&
                      strcmp(l.items[0].hash, "aaaa") == 0 &&
                      strcmp(l.items[1].name, "small") == 0,
              "the list shows the current version of each template, by name");
        orch_template_version_list_free(&l);

        CHECK(orch_store_image_insert(st, &img, &err) == 0, "an image for a workspace");
        ws = orch_store_workspace_create(st, &spec, &err);
        CHECK(ws && ws->template_version && strcmp(ws->template_version, "1111") == 0,
              "a workspace records the template version it was made from");
        CHECK(orch_store_template_delete(st, "small", &err) < 0 && err.code == HD_E_CONFLICT,
              "a template in use by a live workspace is not deleted");
        CHECK_CONTAINS(err.message, "w1", "the refusal names the workspace");
        CHECK(current_is(st, "small", "1111"), "a refused delete keeps the versions");

        if (ws) {
                CHECK(orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_DELETING, NULL,
                                            &err) == 0 &&
                              orch_store_transition(st, ws->id, ORCH_WS_ANY, ORCH_WS_DELETED,
                                                    NULL, &err) == 0,
                      "the workspace goes away");
        }
        CHECK(orch_store_template_delete(st, "small", &err) == 0,
              "once its workspaces are deleted the template can be");
        CHECK(orch_store_template_get(st, "small", "1111", &err) == NULL &&
                      err.code == HD_E_NOT_FOUND,
              "delete removes every version");
        CHECK(orch_store_template_delete(st, "small", &err) < 0 && err.code == HD_E_NOT_FOUND,
              "deleting an unknown template says not found");
        CHECK(orch_store_template_delete(st, "gpu-box", &err) == 0 &&
                      orch_store_template_list(st, &l, &err) == 0 && l.count == 0,
              "with every template deleted the list is empty");
        orch_template_version_list_free(&l);
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", dir, NULL};
        _cleanup_free_ char *db_path = NULL;
        hd_error err = {0};
        orch_store *st;

        if (!mkdtemp(dir))
                return 1;
        db_path = hd_path_join(dir, "hostd.db");
        st = orch_store_open(db_path, &err);
        CHECK(st != NULL, "the store opens");
        if (st) {
                test_push(st);
                test_list_and_delete(st);
                orch_store_close(st);
        }
        hd_run(rm, NULL, NULL);
        return tl_done();
}

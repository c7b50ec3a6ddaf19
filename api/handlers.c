/* handlers.c — the route table and one handler per route; each parses the
 * request, calls the orchestrator and renders the answer. */
#include "api/events.h"
#include "api/audit.h"
#include "api/internal.h"
#include "api/views.h"
#include "orchestrator/service.h"

#include <stdio.h>
#include <string.h>

/* "idle" and "lifetime": null when the workspace has no such policy. */
static void policy_json(api_request *req, const orch_workspace *ws, json_t *o)
{
        orch_ws_idle_info in;
        json_t *idle = json_null(), *life = json_null();

        if (ws->state != ORCH_WS_DELETED && orch_ws_policy_info(api_service(req), ws, &in, NULL) == 1) {
                if (in.idle_timeout_s)
                        idle = json_pack("{s:I,s:o,s:b,s:s}", "timeout_s", (json_int_t)in.idle_timeout_s,
                                         "deadline", api_json_time(in.idle_deadline),
                                         "silent", in.silent, "description", in.description);
                if (in.lifetime_end)
                        life = json_pack("{s:o,s:s}", "ends_at", api_json_time(in.lifetime_end), "action",
                                         in.lifetime_delete ? "delete" : "stop");
        }
        json_object_set_new(o, "idle", idle);
        json_object_set_new(o, "lifetime", life);
}

/* A workspace as the API shows it, with the GPUs it holds now. */
static json_t *workspace_json(api_request *req, const orch_workspace *ws)
{
        json_t *o = api_view_workspace(ws);
        json_t *held = json_array();
        char **addrs = NULL;
        size_t n = 0;

        if (ws->gpu_count > 0 && orch_store_gpu_held(api_store(req), ws->id, &addrs, &n, NULL) == 0) {
                for (size_t i = 0; i < n; i++) {
                        json_array_append_new(held, json_string(addrs[i]));
                        free(addrs[i]);
                }
                free(addrs);
        }
        json_object_set_new(o, "gpus", json_pack("{s:i,s:s?,s:s?,s:o}", "count", (int)ws->gpu_count, "model",
                                                 ws->gpu_model, "numa", ws->gpu_numa, "held", held));
        policy_json(req, ws, o);
        api_startup_json(req, ws, o);
        return o;
}

static void reply_workspace(api_request *req, unsigned status, orch_workspace *ws, const hd_error *err)
{
        if (!ws) {
                api_reply_error(req, err);
                return;
        }
        api_reply_json(req, status, workspace_json(req, ws));
        orch_workspace_free(ws);
}

/* The workspace {ref} names, when the caller may see it (write: act on it);
 * one that is deleted or the caller's not to see is 404, the same answer as
 * for a name that never existed. */
orch_workspace *api_visible_workspace(api_request *req, bool write, hd_error *err)
{
        const char *ref = req->params[0];
        orch_workspace *ws = orch_store_workspace_find(api_store(req), ref, err);

        if (ws && (ws->state == ORCH_WS_DELETED || !api_caller_sees(req, ws->owner, ws->id, ws->name, write))) {
                orch_workspace_free(ws);
                ws = NULL;
                if (err)
                        err->code = HD_E_NOT_FOUND;
        }
        if (!ws && err && err->code == HD_E_NOT_FOUND)
                hd_error_set(err, HD_E_NOT_FOUND, "no workspace '%.64s'", ref);
        return ws;
}

/* ---- health --------------------------------------------------------------- */

static void get_health(api_request *req)
{
        orch_service *svc = api_service(req);
        orch_workspace_list all = {0};
        hd_error err = {0};
        bool ok = orch_service_libvirt_ok(svc, &err);
        json_int_t count = 0;

        if (orch_store_workspace_list(orch_service_store(svc), NULL, &all, NULL) == 0) {
                count = (json_int_t)all.count;
                orch_workspace_list_free(&all);
        }
        api_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:s,s:s,s:I}", "status", ok ? "ok" : "degraded", "version",
                                 api_version(req), "libvirt", ok ? "connected" : err.message, "virt_type",
                                 orch_service_virt_type(svc), "workspaces", count));
}

/* ---- images --------------------------------------------------------------- */

static void list_images(api_request *req)
{
        orch_image_list l = {0};
        hd_error err = {0};
        json_t *arr;

        if (orch_store_image_list(api_store(req), &l, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        arr = json_array();
        for (size_t i = 0; i < l.count; i++)
                json_array_append_new(arr, api_view_image(&l.items[i]));
        orch_image_list_free(&l);
        api_reply_json(req, 200, json_pack("{s:o}", "images", arr));
}

static void import_image(api_request *req)
{
        static const api_field fields[] = {
                {"name", F_STRING, true, 1, 63},
                {"path", F_STRING, true, 1, 4096},
                {"format", F_STRING, true, 1, 16},
                {"sha256", F_STRING, false, 64, 64},
        };
        _cleanup_json_ json_t *body = NULL;
        orch_image *img = NULL;
        hd_error err = {0};
        img_import_req r;

        body = api_parse_body(req, fields, HD_ARRAY_SIZE(fields), &err);
        if (!body) {
                api_reply_error(req, &err);
                return;
        }
        r = (img_import_req){
                .name = json_string_value(json_object_get(body, "name")),
                .source_path = json_string_value(json_object_get(body, "path")),
                .format = json_string_value(json_object_get(body, "format")),
                .expected_sha256 = json_string_value(json_object_get(body, "sha256")),
        };
        if (r.source_path[0] != '/') {
                api_reply_errorf(req, HD_E_INVALID, "field 'path' must be an absolute path on the host");
                return;
        }
        if (orch_image_import(api_service(req), &r, &img, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        api_reply_json(req, 201, api_view_image(img));
        orch_image_free(img);
}

static void get_image(api_request *req)
{
        hd_error err = {0};
        orch_image *img = orch_store_image_get(api_store(req), req->params[0], &err);

        if (!img) {
                api_reply_error(req, &err);
                return;
        }
        api_reply_json(req, 200, api_view_image(img));
        orch_image_free(img);
}

static void delete_image(api_request *req)
{
        hd_error err = {0};

        if (orch_image_delete(api_service(req), req->params[0], &err) < 0)
                api_reply_error(req, &err);
        else
                api_reply_json(req, 204, NULL);
}

/* ---- workspaces ------------------------------------------------------------ */

static void list_workspaces(api_request *req)
{
        orch_workspace_list l = {0};
        hd_error err = {0};
        json_t *arr;

        if (orch_store_workspace_list(api_store(req), NULL, &l, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        arr = json_array();
        for (size_t i = 0; i < l.count; i++)
                if (api_caller_sees(req, l.items[i].owner, l.items[i].id, l.items[i].name, false))
                        json_array_append_new(arr, workspace_json(req, &l.items[i]));
        orch_workspace_list_free(&l);
        api_reply_json(req, 200, json_pack("{s:o}", "workspaces", arr));
}

static void create_workspace(api_request *req)
{
        static const api_field fields[] = {
                {"name", F_STRING, true, 1, 63},
                {"image", F_STRING, false, 1, 63},
                {"template", F_STRING, false, 1, 63},
                {"ssh_keys", F_STRING_ARRAY, true, 1, 32},
                {"user", F_STRING, false, 1, 32},
                {"vcpus", F_INT, false, 1, 1024},
                {"memory_mib", F_INT, false, 128, 4 << 20},
                {"disk_gib", F_INT, false, 1, 1 << 16},
                {"gpus", F_INT, false, 0, 16},
                {"gpu_model", F_STRING, false, 1, 64},
                {"gpu_numa", F_STRING, false, 1, 16},
                {"idle_timeout", F_INT, false, 0, 366 * 24 * 3600},
                {"lifetime", F_INT, false, 1, 366 * 24 * 3600},
        };
        _cleanup_json_ json_t *body = NULL;
        _cleanup_free_ const char **keys = NULL;
        const char *groups[API_MAX_GROUPS];
        hd_error err = {0};
        orch_workspace *ws;
        orch_create_req r;
        json_t *arr, *k;
        size_t i;

        body = api_parse_body(req, fields, HD_ARRAY_SIZE(fields), &err);
        if (!body) {
                api_reply_error(req, &err);
                return;
        }
        arr = json_object_get(body, "ssh_keys");
        keys = hd_malloc0((json_array_size(arr) + 1) * sizeof(char *));
        json_array_foreach(arr, i, k)
                keys[i] = json_string_value(k);
        if (!json_object_get(body, "image") && !json_object_get(body, "template")) {
                api_reply_errorf(req, HD_E_INVALID, "give field 'image' or field 'template'");
                return;
        }
        r = (orch_create_req){
                .name = json_string_value(json_object_get(body, "name")),
                .image = json_string_value(json_object_get(body, "image")),
                .template_name = json_string_value(json_object_get(body, "template")),
                .owner = api_effective_user(req),
                .owner_groups = groups,
                .n_owner_groups = api_effective_groups(req, groups),
                .bypass_template_groups = (req->caller.roles & API_ROLE_ADMIN) != 0,
                .user = json_string_value(json_object_get(body, "user")),
                .ssh_keys = keys,
                .n_ssh_keys = json_array_size(arr),
                .vcpus = (unsigned)json_integer_value(json_object_get(body, "vcpus")),
                .memory_mib = (uint64_t)json_integer_value(json_object_get(body, "memory_mib")),
                .disk_gib = (uint64_t)json_integer_value(json_object_get(body, "disk_gib")),
                .gpus = (unsigned)json_integer_value(json_object_get(body, "gpus")),
                .gpus_given = json_object_get(body, "gpus") != NULL,
                .gpu_model = json_string_value(json_object_get(body, "gpu_model")),
                .gpu_numa = json_string_value(json_object_get(body, "gpu_numa")),
                .idle_timeout_given = json_object_get(body, "idle_timeout") != NULL,
                .idle_timeout_s = (unsigned)json_integer_value(json_object_get(body, "idle_timeout")),
                .lifetime_s = (unsigned)json_integer_value(json_object_get(body, "lifetime")),
        };
        ws = orch_ws_create(api_service(req), &r, &err);
        reply_workspace(req, 202, ws, &err);
}

static void get_workspace(api_request *req)
{
        hd_error err = {0};

        reply_workspace(req, 200, api_visible_workspace(req, false, &err), &err);
}

/* The lifecycle calls: check visibility, then act on the workspace's id. */
typedef orch_workspace *(*lifecycle_fn)(orch_service *svc, const char *ref, hd_error *err);

static void lifecycle(api_request *req, lifecycle_fn fn)
{
        hd_error err = {0};
        orch_workspace *ws = api_visible_workspace(req, true, &err);
        orch_workspace *done = NULL;

        if (ws) {
                done = fn(api_service(req), ws->id, &err);
                orch_workspace_free(ws);
        }
        reply_workspace(req, 202, done, &err);
}

static void delete_workspace(api_request *req)
{
        lifecycle(req, orch_ws_delete);
}

static void start_workspace(api_request *req)
{
        lifecycle(req, orch_ws_start);
}

static orch_workspace *stop_forced(orch_service *svc, const char *ref, hd_error *err)
{
        return orch_ws_stop(svc, ref, true, err);
}

static orch_workspace *stop_graceful(orch_service *svc, const char *ref, hd_error *err)
{
        return orch_ws_stop(svc, ref, false, err);
}

static void stop_workspace(api_request *req)
{
        const char *force = api_query(req, "force");

        if (force && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'force' must be true or false");
                return;
        }
        lifecycle(req, force && strcmp(force, "true") == 0 ? stop_forced : stop_graceful);
}

static void restart_workspace(api_request *req)
{
        lifecycle(req, orch_ws_restart);
}

static void extend_workspace(api_request *req)
{
        static const api_field fields[] = {{"seconds", F_INT, true, 1, 366 * 24 * 3600}};
        _cleanup_json_ json_t *body = NULL;
        hd_error err = {0};

        orch_workspace *ws, *done = NULL;

        body = api_parse_body(req, fields, HD_ARRAY_SIZE(fields), &err);
        if (!body) {
                api_reply_error(req, &err);
                return;
        }
        ws = api_visible_workspace(req, true, &err);
        if (ws) {
                done = orch_ws_extend(api_service(req), ws->id,
                                      (unsigned)json_integer_value(json_object_get(body, "seconds")), &err);
                orch_workspace_free(ws);
        }
        reply_workspace(req, 200, done, &err);
}

/* ---- GPUs ------------------------------------------------------------------ */

static void gpu_visit(void *ctx, const orch_gpu *g, const char *state, const char *holder, const char *reason)
{
        json_t *funcs = json_array();
        char id[16];

        for (size_t i = 0; i < g->n_functions; i++)
                json_array_append_new(funcs, json_string(g->functions[i]));
        snprintf(id, sizeof(id), "%04x:%04x", g->vendor & 0xffff, g->device & 0xffff);
        json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:i,s:i,s:s?,s:s?,s:o,s:s,s:s?,s:s?}", "address",
                                             g->address, "model", g->model, "id", id, "numa_node", g->numa_node,
                                             "iommu_group", g->iommu_group, "driver", g->driver, "reset_method",
                                             g->reset_method, "functions", funcs, "state", state, "workspace",
                                             holder, "reason", reason));
}

static void list_gpus(api_request *req)
{
        json_t *arr = json_array();
        _cleanup_free_ char *problem = NULL;
        hd_error err = {0};

        if (orch_gpus_foreach(api_service(req), gpu_visit, arr, &problem, &err) < 0) {
                json_decref(arr);
                api_reply_error(req, &err);
                return;
        }
        api_reply_json(req, 200, json_pack("{s:o,s:s?}", "gpus", arr, "host_problem", problem));
}

static void refresh_gpus(api_request *req)
{
        hd_error err = {0};

        if (orch_gpu_refresh(api_service(req), &err) < 0)
                api_reply_error(req, &err);
        else
                list_gpus(req);
}

static void clear_gpu(api_request *req)
{
        hd_error err = {0};

        if (orch_gpu_clear(api_service(req), req->params[0], &err) < 0)
                api_reply_error(req, &err);
        else
                list_gpus(req);
}

const api_route api_routes[] = {
        {"GET", "/v1/health", get_health, API_PERM_PUBLIC},
        {"GET", "/v1/events", api_get_events, API_PERM_WORKSPACE_READ},
        {"GET", "/v1/images", list_images, API_PERM_CATALOG_READ},
        {"POST", "/v1/images", import_image, API_PERM_CATALOG_WRITE},
        {"GET", "/v1/images/{name}", get_image, API_PERM_CATALOG_READ},
        {"DELETE", "/v1/images/{name}", delete_image, API_PERM_CATALOG_WRITE},
        {"GET", "/v1/workspaces", list_workspaces, API_PERM_WORKSPACE_READ},
        {"POST", "/v1/workspaces", create_workspace, API_PERM_WORKSPACE_WRITE},
        {"GET", "/v1/workspaces/{ref}", get_workspace, API_PERM_WORKSPACE_READ},
        {"DELETE", "/v1/workspaces/{ref}", delete_workspace, API_PERM_WORKSPACE_WRITE},
        {"POST", "/v1/workspaces/{ref}/start", start_workspace, API_PERM_WORKSPACE_WRITE},
        {"POST", "/v1/workspaces/{ref}/stop", stop_workspace, API_PERM_WORKSPACE_WRITE},
        {"POST", "/v1/workspaces/{ref}/restart", restart_workspace, API_PERM_WORKSPACE_WRITE},
        {"POST", "/v1/workspaces/{ref}/extend", extend_workspace, API_PERM_WORKSPACE_WRITE},
        {"GET", "/v1/workspaces/{ref}/startup-log", api_get_startup_log, API_PERM_WORKSPACE_READ},
        {"GET", "/v1/templates", api_list_templates, API_PERM_CATALOG_READ},
        {"POST", "/v1/templates", api_push_template, API_PERM_CATALOG_WRITE},
        {"GET", "/v1/templates/{name}", api_get_template, API_PERM_CATALOG_READ},
        {"DELETE", "/v1/templates/{name}", api_delete_template, API_PERM_CATALOG_WRITE},
        {"GET", "/v1/templates/{name}/diff", api_diff_template, API_PERM_CATALOG_READ},
        {"GET", "/v1/gpus", list_gpus, API_PERM_CATALOG_READ},
        {"POST", "/v1/gpus/refresh", refresh_gpus, API_PERM_HOST_WRITE},
        {"POST", "/v1/gpus/{address}/clear", clear_gpu, API_PERM_HOST_WRITE},
        {"GET", "/v1/users", api_list_users, API_PERM_USER_READ},
        {"POST", "/v1/users", api_create_user, API_PERM_USER_WRITE},
        {"GET", "/v1/users/{name}", api_get_user, API_PERM_USER_READ},
        {"PATCH", "/v1/users/{name}", api_update_user, API_PERM_USER_WRITE},
        {"DELETE", "/v1/users/{name}", api_delete_user, API_PERM_USER_WRITE},
        {"POST", "/v1/tokens", api_create_token, API_PERM_SIGNED_IN},
        {"GET", "/v1/tokens", api_list_tokens, API_PERM_SIGNED_IN},
        {"DELETE", "/v1/tokens/{id}", api_revoke_token, API_PERM_SIGNED_IN},
        {"GET", "/v1/audit", api_list_audit, API_PERM_AUDIT_READ},
        {"GET", "/v1/quotas/me", api_quota_me, API_PERM_SIGNED_IN},
        {"GET", "/v1/quotas", api_quota_list, API_PERM_USER_READ},
        {"PUT", "/v1/quotas/users/{name}", api_quota_put_user, API_PERM_USER_WRITE},
        {"DELETE", "/v1/quotas/users/{name}", api_quota_delete_user, API_PERM_USER_WRITE},
        {"PUT", "/v1/quotas/groups/{name}", api_quota_put_group, API_PERM_USER_WRITE},
        {"DELETE", "/v1/quotas/groups/{name}", api_quota_delete_group, API_PERM_USER_WRITE},
};
const size_t api_routes_count = HD_ARRAY_SIZE(api_routes);

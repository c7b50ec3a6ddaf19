/* views.c — how images and workspaces look in API responses. */
#include "api/views.h"

json_t *api_view_image(const orch_image *img)
{
        return json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "name", img->name, "format", img->format, "sha256",
                         img->sha256, "virtual_size", (json_int_t)img->virtual_size, "file_size",
                         (json_int_t)img->file_size, "imported_at", api_json_time(img->imported_at));
}

/* The agent's last heartbeat, reduced to what a user wants to see. */
static json_t *agent_view(const orch_workspace *ws)
{
        json_t *hb, *view;

        if (!ws->last_heartbeat)
                return json_null();
        hb = json_loads(ws->last_heartbeat, 0, NULL);
        if (!hb)
                return json_null();
        view = json_pack("{s:o,s:O?,s:O?,s:O?,s:O?,s:O?}", "last_heartbeat_at",
                         api_json_time(ws->last_heartbeat_at), "ssh_sessions", json_object_get(hb, "ssh_sessions"),
                         "users", json_object_get(hb, "users"), "load1", json_object_get(hb, "load1"),
                         "last_input_age_s", json_object_get(hb, "last_input_age_s"), "gpu_util_pct",
                         json_object_get(hb, "gpu_util_pct"));
        json_decref(hb);
        return view;
}

json_t *api_view_workspace(const orch_workspace *ws)
{
        json_t *addrs = ws->ip_addresses ? json_loads(ws->ip_addresses, 0, NULL) : NULL;
        const char *host = NULL;
        json_t *o;

        if (!json_is_array(addrs)) {
                json_decref(addrs);
                addrs = json_array();
        }
        if (json_array_size(addrs) > 0)
                host = json_string_value(json_array_get(addrs, 0));
        o = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s,s:s?,s:i,s:I,s:I,s:o,s:o,s:o,s:o}", "id", ws->id, "name",
                      ws->name, "owner", ws->owner, "image", ws->image, "template", ws->template_name, "state",
                      orch_ws_state_name(ws->state), "reason", ws->reason, "vcpus", (int)ws->vcpus, "memory_mib",
                      (json_int_t)ws->memory_mib, "disk_gib", (json_int_t)ws->disk_gib, "created_at",
                      api_json_time(ws->created_at), "updated_at", api_json_time(ws->updated_at),
                      "state_changed_at", api_json_time(ws->state_changed_at), "addresses", addrs);
        /* SSH details once the workspace can be reached. */
        if (host && ws->ssh_user && ws->state == ORCH_WS_READY) {
                json_object_set_new(o, "ssh", json_pack("{s:s,s:i,s:s}", "host", host, "port", 22, "user",
                                                        ws->ssh_user));
                json_object_set_new(o, "ssh_command", json_sprintf("ssh %s@%s", ws->ssh_user, host));
        } else {
                json_object_set_new(o, "ssh", json_null());
                json_object_set_new(o, "ssh_command", json_null());
        }
        json_object_set_new(o, "template_version", ws->template_version ? json_string(ws->template_version)
                                                                          : json_null());
        json_object_set_new(o, "agent", agent_view(ws));
        return o;
}

/* startup.c — a template's startup script in the API: the "startup" object
 * of a workspace's view (null without a script) and GET
 * /v1/workspaces/{ref}/startup-log, the end of what the script wrote, as
 * JSON like every answer of this API. */
#include "api/internal.h"
#include "api/views.h"
#include "orchestrator/service.h"

#include <string.h>
#include <time.h>

static json_t *int_or_null(long long v, bool present)
{
        return present ? json_integer(v) : json_null();
}

json_t *api_view_startup(const orch_ws_startup *su, int64_t now)
{
        char text[768];

        orch_startup_describe(su, now, text, sizeof(text));
        return json_pack("{s:s,s:o,s:o,s:o,s:o,s:I,s:I,s:b,s:s?,s:s}", "status", orch_startup_status_name(su->status),
                         "exit_status", int_or_null(su->exit_status, su->exit_status >= 0), "signal",
                         int_or_null(su->signal, su->signal > 0), "started_at", api_json_time(su->started_at),
                         "finished_at", api_json_time(su->finished_at), "timeout_s", (json_int_t)su->timeout_s,
                         "output_bytes", (json_int_t)su->output_bytes, "output_truncated", su->output_truncated,
                         "note", su->note, "description", text);
}

void api_startup_json(api_request *req, const orch_workspace *ws, json_t *o)
{
        _cleanup_(orch_ws_startup_clear) orch_ws_startup su = {0};
        json_t *v = json_null();

        if (orch_store_startup_get(api_store(req), ws->id, false, &su, NULL) == 1)
                v = api_view_startup(&su, time(NULL));
        json_object_set_new(o, "startup", v);
}

void api_get_startup_log(api_request *req)
{
        _cleanup_(orch_workspace_freep) orch_workspace *ws = NULL;
        _cleanup_(orch_ws_startup_clear) orch_ws_startup su = {0};
        orch_store *st = api_store(req);
        hd_error err = {0};
        json_t *o;
        int r;

        ws = api_visible_workspace(req, false, &err);
        if (!ws || (r = orch_store_startup_get(st, ws->id, true, &su, &err)) < 0) {
                api_reply_error(req, &err);
                return;
        }
        if (r == 0) {
                api_reply_errorf(req, HD_E_NOT_FOUND, "workspace '%s' has no startup script (its template has none)",
                                 ws->name);
                return;
        }
        o = api_view_startup(&su, time(NULL));
        json_object_set_new(o, "workspace", json_string(ws->name));
        json_object_set_new(o, "output", su.output ? json_string(su.output) : json_null());
        api_reply_json(req, 200, o);
}

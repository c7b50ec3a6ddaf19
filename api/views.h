/* views.h — JSON views of the orchestrator's rows for API responses. */
#pragma once

#include "api/internal.h"
#include "orchestrator/store.h"

json_t *api_view_image(const orch_image *img);
json_t *api_view_workspace(const orch_workspace *ws);
/* The "startup" object: status, exit status, signal, times, limit, output
 * length, note and a description at now (api/startup.c). */
json_t *api_view_startup(const orch_ws_startup *su, int64_t now);

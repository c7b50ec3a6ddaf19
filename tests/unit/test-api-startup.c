/* test-api-startup.c — how a startup script's run looks to users: the
 * "startup" object of the API's workspace view (nulls where nothing is
 * known, times in ISO 8601 UTC) and the one-line description the API and
 * wsctl show, for each status. */
#include "api/views.h"
#include "orchestrator/service.h"
#include "tests/testlib.h"

#define T0 1714572000 /* 2024-05-01 14:00:00 UTC */

static char *view(const orch_ws_startup *su)
{
        json_t *j = api_view_startup(su, T0 + 600);
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        json_decref(j);
        return s;
}

static char *describe(const orch_ws_startup *su)
{
        static char out[768];

        orch_startup_describe(su, T0 + 600, out, sizeof(out));
        return out;
}

int main(void)
{
        orch_ws_startup su = {.status = ORCH_STARTUP_PENDING, .exit_status = -1};
        char *s;

        s = view(&su);
        CHECK_STR(s,
                  "{\"description\":\"pending: runs once cloud-init has finished in the guest\",\"exit_status\":null,"
                  "\"finished_at\":null,\"note\":null,\"output_bytes\":0,\"output_truncated\":false,\"signal\":null,"
                  "\"started_at\":null,\"status\":\"pending\",\"timeout_s\":0}",
                  "a pending run: nulls for what is not known yet");
        free(s);

        su = (orch_ws_startup){.status = ORCH_STARTUP_RUNNING, .exit_status = -1, .started_at = T0 + 120};
        CHECK_STR(describe(&su), "running since 14:02 UTC (time limit 1 h)",
                  "a running script says since when, and the default limit of an hour");

        su = (orch_ws_startup){.status = ORCH_STARTUP_SUCCEEDED, .exit_status = 0, .started_at = T0 + 120,
                               .finished_at = T0 + 132, .timeout_s = 7200, .output_bytes = 70000,
                               .output_truncated = true};
        s = view(&su);
        CHECK_STR(s,
                  "{\"description\":\"succeeded (exit 0) after 12 s, at 14:02 UTC\",\"exit_status\":0,"
                  "\"finished_at\":\"2024-05-01T14:02:12Z\",\"note\":null,\"output_bytes\":70000,"
                  "\"output_truncated\":true,\"signal\":null,\"started_at\":\"2024-05-01T14:02:00Z\","
                  "\"status\":\"succeeded\",\"timeout_s\":7200}",
                  "a finished run: exit status, times, how much it wrote and whether the log is only its end");
        free(s);

        su = (orch_ws_startup){.status = ORCH_STARTUP_FAILED, .exit_status = 3, .started_at = T0, .finished_at = T0 + 2};
        CHECK_STR(describe(&su), "failed (exit 3) after 2 s, at 14:00 UTC", "a failed script shows its exit status");

        su = (orch_ws_startup){.status = ORCH_STARTUP_TIMED_OUT, .exit_status = -1, .signal = 15, .started_at = T0,
                               .finished_at = T0 + 3600, .timeout_s = 3600};
        s = view(&su);
        CHECK(s && strstr(s, "\"exit_status\":null") && strstr(s, "\"signal\":15") &&
                      strstr(s, "\"status\":\"timed_out\""),
              "a timed-out run has no exit status and names the signal");
        free(s);
        CHECK_STR(describe(&su), "timed out (time limit 1 h) (killed by signal 15) after 1 h, at 15:00 UTC",
                  "a timed-out script says its limit and the signal that ended it");

        su = (orch_ws_startup){.status = ORCH_STARTUP_FAILED, .exit_status = -1, .finished_at = T0,
                               .note = (char *)"cannot run /etc/hostd-agent/startup-script: Exec format error"};
        CHECK_STR(describe(&su), "failed, at 14:00 UTC; cannot run /etc/hostd-agent/startup-script: Exec format error",
                  "a script that could not run says why");
        return tl_done();
}

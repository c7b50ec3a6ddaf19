/* sse.c — text/event-stream framing (the WHATWG HTML "server-sent events"
 * format), the JSON an event carries, and turning what a subscription
 * holds into messages. Each message is a few "field: value" lines and a
 * blank line; nothing a value holds can end a message early. */
#include "api/events.h"

#include "orchestrator/events.h"

#include <string.h>

/* "prefix: line\n" for each line of text (split on CR LF, LF or CR). */
static void field_lines(hd_buf *b, const char *prefix, const char *text)
{
        const char *p = text ? text : "";

        for (;;) {
                size_t n = strcspn(p, "\r\n");

                hd_buf_append(b, prefix);
                hd_buf_append_len(b, p, n);
                hd_buf_append(b, "\n");
                p += n;
                if (!*p)
                        return;
                p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
        }
}

void api_sse_event(hd_buf *b, int64_t id, const char *event, const char *data)
{
        if (id > 0)
                hd_buf_appendf(b, "id: %lld\n", (long long)id);
        if (event && *event) {
                hd_buf_append(b, "event: ");
                for (const char *p = event; *p; p++)
                        if (*p != '\r' && *p != '\n')
                                hd_buf_append_len(b, p, 1);
                hd_buf_append(b, "\n");
        }
        field_lines(b, "data: ", data);
        hd_buf_append(b, "\n");
}

void api_sse_comment(hd_buf *b, const char *text)
{
        field_lines(b, ": ", text);
        hd_buf_append(b, "\n");
}

void api_sse_retry(hd_buf *b, unsigned ms)
{
        hd_buf_appendf(b, "retry: %u\n\n", ms);
}

json_t *api_event_json(const orch_event *ev)
{
        json_t *detail = ev->detail ? json_loads(ev->detail, 0, NULL) : NULL;

        return json_pack("{s:I,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:o,s:o}", "id", (json_int_t)ev->id, "kind",
                         ev->kind ? ev->kind : "", "workspace_id", ev->workspace_id ? ev->workspace_id : "",
                         "name", ev->name, "owner", ev->owner, "state", ev->state, "from_state",
                         ev->from_state, "reason", ev->reason, "time", api_json_time(ev->time), "detail",
                         detail ? detail : json_null());
}

void api_sse_workspace_event(hd_buf *b, const orch_event *ev)
{
        json_t *data = api_event_json(ev);
        _cleanup_free_ char *text = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);

        json_decref(data);
        api_sse_event(b, ev->id, ev->kind, text);
}

void api_sse_resync(hd_buf *b, const char *reason, int64_t last_id)
{
        json_t *data = json_pack("{s:s,s:I}", "reason", reason, "last_id", (json_int_t)last_id);
        _cleanup_free_ char *text = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);

        json_decref(data);
        api_sse_event(b, 0, "resync", text);
}

bool api_sse_drain(orch_sub *sub, hd_buf *b, size_t max, int64_t *last_id)
{
        orch_event ev = {0};

        for (size_t i = 0; i < max; i++) {
                switch (orch_sub_next(sub, 0, &ev)) {
                case ORCH_SUB_EVENT:
                        api_sse_workspace_event(b, &ev);
                        *last_id = ev.id;
                        orch_event_clear(&ev);
                        continue;
                case ORCH_SUB_OVERFLOW:
                        api_sse_resync(b, "this stream fell too far behind; reconnect with Last-Event-ID to get "
                                          "the rest",
                                       *last_id);
                        return true;
                case ORCH_SUB_CLOSED:
                        api_sse_comment(b, "hostd is stopping");
                        return true;
                case ORCH_SUB_EMPTY:
                        return false;
                }
        }
        return false;
}

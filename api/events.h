/* events.h — internal to api/: GET /v1/events, workspace events as a
 * server-sent event stream (events.c), its framing (sse.c), and what
 * server.c needs to run the streams (docs/events.md). */
#pragma once

#include "api/internal.h"
#include "orchestrator/store.h"

#include <microhttpd.h>

/* ---- sse.c: text/event-stream framing ----------------------------------------- */

/* One message: "id: N" (when id > 0), "event: NAME" (CR and LF dropped),
 * one "data: " line per line of data, then the blank line that ends it. */
void api_sse_event(hd_buf *b, int64_t id, const char *event, const char *data);
/* A comment (": text" per line, then a blank line): clients ignore it;
 * proxies and clients see that the connection lives. */
void api_sse_comment(hd_buf *b, const char *text);
/* "retry: MS": how long a client waits before it reconnects. */
void api_sse_retry(hd_buf *b, unsigned ms);
/* An event's data: id, kind, workspace_id, name, owner, state, from_state,
 * reason, time (ISO 8601) and detail (JSON or null). */
json_t *api_event_json(const orch_event *ev);
/* A workspace event as one message: id, kind, its JSON on one line. */
void api_sse_workspace_event(hd_buf *b, const orch_event *ev);
/* "event: resync" with {reason, last_id}: the client is to reconnect with
 * Last-Event-ID; the stream ends after it. */
void api_sse_resync(hd_buf *b, const char *reason, int64_t last_id);

typedef struct orch_sub orch_sub;
/* Format up to max events the subscription holds into b, setting *last_id
 * to each one's id; after an overflow a resync message, after the bus
 * closed a last comment. Returns true when the stream must end after b. */
bool api_sse_drain(orch_sub *sub, hd_buf *b, size_t max, int64_t *last_id);

/* ---- events.c: the streams ------------------------------------------------------ */

typedef struct api_streams api_streams;

#define API_EVENT_HEARTBEAT_S 15

/* The server's streams, at most max at once (more are refused with 503). */
api_streams *api_streams_new(unsigned max);
/* End every stream (each gets a last comment and a clean end), refuse new
 * ones, and return once they are gone or after a short grace: the server
 * may then stop, with no connection left suspended. */
void api_streams_close(api_streams *reg);
void api_streams_free(api_streams *reg);
/* server.c: the server's streams, for the handler. */
api_streams *api_server_streams(const api_request *req);

/* The handler of GET /v1/events: sets req->stream, or an error reply. */
void api_get_events(api_request *req);
/* server.c, instead of a JSON reply when req->stream is set. */
enum MHD_Result api_stream_queue(struct MHD_Connection *conn, api_request *req);

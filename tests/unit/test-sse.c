/* test-sse.c — the framing of GET /v1/events: messages, comments and retry
 * lines as a client parses them, values that would break a message (line
 * breaks in data or in an event name), and an event's JSON. The whole
 * stream of a few events is compared with tests/fixtures/api/events.sse.
 * And what a stream sends from its subscription: events, then a resync
 * naming the last event sent when it fell behind, or a last comment. */
#include "api/events.h"
#include "orchestrator/events.h"
#include "tests/fixture.h"

static void test_framing(void)
{
        hd_buf b = HD_BUF_INIT;

        api_sse_event(&b, 7, "state", "{\"a\":1}");
        CHECK_STR(b.data, "id: 7\nevent: state\ndata: {\"a\":1}\n\n", "a message is id, event, data and a blank line");
        hd_buf_reset(&b);
        api_sse_event(&b, 0, "resync", "x");
        CHECK_STR(b.data, "event: resync\ndata: x\n\n", "a message without an id has no id line");
        hd_buf_reset(&b);
        api_sse_event(&b, 1, "st\nate\r", "one\ntwo\r\nthree\rfour");
        CHECK_STR(b.data, "id: 1\nevent: state\ndata: one\ndata: two\ndata: three\ndata: four\n\n",
                  "line breaks in data become data lines; an event name cannot break a line");
        hd_buf_reset(&b);
        api_sse_event(&b, 2, NULL, "");
        CHECK_STR(b.data, "id: 2\ndata: \n\n", "an empty data still makes a message");
        hd_buf_reset(&b);
        api_sse_comment(&b, "heartbeat");
        CHECK_STR(b.data, ": heartbeat\n\n", "a comment starts with a colon");
        hd_buf_reset(&b);
        api_sse_comment(&b, "a\nb");
        CHECK_STR(b.data, ": a\n: b\n\n", "every line of a comment is a comment");
        hd_buf_reset(&b);
        api_sse_retry(&b, 3000);
        CHECK_STR(b.data, "retry: 3000\n\n", "retry tells clients how long to wait before reconnecting");
        hd_buf_free(&b);
}

static void test_stream_fixture(void)
{
        orch_event evs[] = {
                {.id = 41, .workspace_id = (char *)"ws-00112233445566aa", .time = 1767225600, .kind = (char *)"created",
                 .to_state = (char *)"pending", .name = (char *)"dev", .owner = (char *)"alice",
                 .state = (char *)"pending", .detail = (char *)"{\"image\":\"debian-12\",\"vcpus\":2}"},
                {.id = 42, .workspace_id = (char *)"ws-00112233445566aa", .time = 1767225601, .kind = (char *)"state",
                 .from_state = (char *)"pending", .to_state = (char *)"provisioning", .name = (char *)"dev",
                 .owner = (char *)"alice", .state = (char *)"provisioning"},
                {.id = 43, .workspace_id = (char *)"ws-00112233445566aa", .time = 1767225602, .kind = (char *)"state",
                 .from_state = (char *)"provisioning", .to_state = (char *)"failed",
                 .reason = (char *)"creating the disk: \"no space\"\nline two \xc3\xa9", .name = (char *)"dev",
                 .owner = (char *)"alice", .state = (char *)"failed"},
                {.id = 44, .workspace_id = (char *)"ws-00112233445566aa", .time = 1767225603,
                 .kind = (char *)"lifetime_warning", .reason = (char *)"ends in 1h", .name = (char *)"dev",
                 .owner = (char *)"alice", .state = (char *)"failed"},
        };
        _cleanup_free_ char *dir = tl_fixtures_dir("api");
        _cleanup_free_ char *path = dir ? hd_path_join(dir, "events.sse") : NULL;
        hd_buf b = HD_BUF_INIT;
        bool one_line = true;

        api_sse_retry(&b, 3000);
        for (size_t i = 0; i < HD_ARRAY_SIZE(evs); i++) {
                json_t *j = api_event_json(&evs[i]);
                char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
                one_line &= !strchr(text, '\n') && !strchr(text, '\r');
                api_sse_event(&b, evs[i].id, evs[i].kind, text);
                free(text);
                json_decref(j);
        }
        api_sse_comment(&b, "heartbeat");
        CHECK(one_line, "an event's JSON is one line, whatever its reason holds");
        if (CHECK(path != NULL, "the fixtures directory is found"))
                tl_fixture_compare(path, b.data, "a stream of events is framed as the fixture shows");
        hd_buf_free(&b);
}

static void publish(orch_events *bus, int64_t id)
{
        orch_event ev = {.id = id, .workspace_id = (char *)"ws-00112233445566aa", .kind = (char *)"state",
                         .name = (char *)"dev", .owner = (char *)"alice", .state = (char *)"ready"};

        orch_events_publish(bus, &ev);
}

static void test_drain(void)
{
        orch_events *bus = orch_events_open(NULL, NULL);
        orch_sub *sub = orch_events_subscribe(bus, &(orch_sub_opts){.queue_len = 3}, NULL);
        hd_buf b = HD_BUF_INIT;
        int64_t last = 0;
        bool end;

        publish(bus, 1);
        publish(bus, 2);
        end = api_sse_drain(sub, &b, 1, &last);
        CHECK(!end && last == 1 && strstr(b.data, "id: 1\n") && !strstr(b.data, "id: 2\n"),
              "a stream sends at most the batch it asks for");
        end = api_sse_drain(sub, &b, 64, &last);
        CHECK(!end && last == 2 && strstr(b.data, "id: 2\n"), "then the rest, and goes on");
        hd_buf_reset(&b);
        for (int64_t id = 3; id <= 10; id++)
                publish(bus, id); /* a client that does not read: 3 fit */
        end = api_sse_drain(sub, &b, 64, &last);
        CHECK(end && last == 5, "a stream that fell behind sends what it holds and ends");
        CHECK_CONTAINS(b.data,
                       "id: 5\nevent: state\n"
                       "data: {\"id\":5,\"kind\":\"state\",\"workspace_id\":\"ws-00112233445566aa\",\"name\":\"dev\","
                       "\"owner\":\"alice\",\"state\":\"ready\",\"from_state\":null,\"reason\":null,\"time\":null,"
                       "\"detail\":null}\n\n"
                       "event: resync\ndata: {\"reason\":\"this stream fell too far behind; reconnect with Last-Event-ID "
                       "to get the rest\",\"last_id\":5}\n\n",
                       "its last message tells the client to resync from the last event it got");
        orch_sub_close(sub);

        sub = orch_events_subscribe(bus, NULL, NULL);
        hd_buf_reset(&b);
        publish(bus, 11);
        orch_events_close(bus);
        end = api_sse_drain(sub, &b, 64, &last);
        CHECK(end && last == 11 && strstr(b.data, "id: 11\n") && strstr(b.data, ": hostd is stopping\n\n"),
              "when hostd stops, a stream sends what it holds, then a last comment, and ends");
        orch_sub_close(sub);
        hd_buf_free(&b);
}

int main(void)
{
        test_framing();
        test_stream_fixture();
        test_drain();
        return tl_done();
}

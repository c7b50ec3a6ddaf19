/* itest-agentlink.c — hostd's end of the agent protocol, with the test
 * playing the guest on the workspace's agent socket (the place qemu binds the
 * virtio-serial channel): a hello with a wrong token is answered with an
 * error and the connection is closed; a good hello gets welcome; ready plus
 * a heartbeat with an address moves the workspace to ready and records the
 * address; the startup script's run is recorded from "startup" messages (a
 * failed script leaves the workspace ready, a late "running" does not undo a
 * result); a workspace whose agent never says hello is failed in time.
 * Needs libvirtd (the service opens a connection) — the harness provides it. */
#include "orchestrator/service-internal.h"
#include "tests/fixture.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

static char dir[] = "/tmp/hostd-itest-agentlink-XXXXXX";

static int listen_at(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
                return -1;
        return fd;
}

/* Let hostd's agent link run a round, then accept its connection. */
static int host_connects(orch_service *svc, int lfd)
{
        struct pollfd p = {lfd, POLLIN, 0};

        orch_agents_poll(svc, 50, NULL, NULL);
        if (poll(&p, 1, 2000) <= 0)
                return -1;
        return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* What hostd wrote within the time hostd gets to act, or "" / "EOF". */
static char *exchange(orch_service *svc, int fd, const char *lines)
{
        char buf[4096];
        ssize_t n;

        if (lines && write(fd, lines, strlen(lines)) < 0)
                return hd_strdup("write failed");
        for (int i = 0; i < 3; i++)
                orch_agents_poll(svc, 100, NULL, NULL);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 500) <= 0)
                return hd_strdup("");
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return hd_strdup("EOF");
        buf[n] = '\0';
        return hd_strdup(buf);
}

static orch_workspace *running_workspace(orch_service *svc, const char *name, char token[65])
{
        orch_workspace spec = {.name = (char *)name, .owner = (char *)"tester", .image = (char *)"img",
                               .vcpus = 1, .memory_mib = 256, .disk_gib = 1, .ssh_user = (char *)"dev"};
        char hash[65];
        orch_workspace *ws = orch_store_workspace_create(svc->store, &spec, NULL);
        orch_ws_update u = {.agent_token_hash = hash};

        if (!ws || orch_token_new(token, hash, NULL) < 0 ||
            orch_store_workspace_update(svc->store, ws->id, &u, NULL) < 0 ||
            orch_store_transition(svc->store, ws->id, ORCH_WS_ANY, ORCH_WS_PROVISIONING, NULL, NULL) < 0 ||
            orch_store_transition(svc->store, ws->id, ORCH_WS_ANY, ORCH_WS_RUNNING, NULL, NULL) < 0)
                return NULL;
        return ws;
}

static void test_startup(orch_service *svc, int fd, const char *id)
{
        _cleanup_(orch_ws_startup_clear) orch_ws_startup su = {0};
        orch_event_list ev = {0};
        orch_workspace *now;
        int events = 0;

        CHECK(orch_startup_setup(svc, &(orch_workspace){.id = (char *)id}, 600, NULL) == 0 &&
                      orch_store_startup_get(svc->store, id, true, &su, NULL) == 1 &&
                      su.status == ORCH_STARTUP_PENDING && su.timeout_s == 600,
              "a workspace whose template has a startup script starts with it pending");
        orch_ws_startup_clear(&su);
        free(exchange(svc, fd, "{\"type\":\"startup\",\"status\":\"running\",\"started_at\":1700000000,"
                               "\"timeout_s\":600}\n"));
        CHECK(orch_store_startup_get(svc->store, id, true, &su, NULL) == 1 && su.status == ORCH_STARTUP_RUNNING &&
                      su.started_at == 1700000000,
              "the agent's running report is recorded with its start time");
        orch_ws_startup_clear(&su);
        free(exchange(svc, fd, "{\"type\":\"startup\",\"status\":\"failed\",\"started_at\":1700000000,"
                               "\"finished_at\":1700000007,\"exit_status\":3,\"signal\":null,\"timeout_s\":600,"
                               "\"note\":\"odd\\nnote\",\"output\":\"boom\\n\",\"output_bytes\":5,"
                               "\"output_truncated\":false}\n"));
        CHECK(orch_store_startup_get(svc->store, id, true, &su, NULL) == 1 && su.status == ORCH_STARTUP_FAILED &&
                      su.exit_status == 3 && su.signal == 0 && su.finished_at == 1700000007 && su.output &&
                      strcmp(su.output, "boom\n") == 0 && su.note && strcmp(su.note, "odd?note") == 0,
              "the result is recorded: failed, exit 3, the output, the note with control characters blanked");
        orch_ws_startup_clear(&su);
        now = orch_store_workspace_get(svc->store, id, NULL);
        CHECK(now && now->state == ORCH_WS_READY, "a failed startup script leaves the workspace ready");
        orch_workspace_free(now);
        free(exchange(svc, fd, "{\"type\":\"startup\",\"status\":\"running\",\"started_at\":1700000000}\n"
                               "{\"type\":\"startup\",\"status\":\"failed\",\"started_at\":1700000000,"
                               "\"finished_at\":1700000007,\"exit_status\":3,\"output\":\"boom\\n\"}\n"
                               "{\"type\":\"startup\",\"status\":\"pending\"}\n"));
        CHECK(orch_store_startup_get(svc->store, id, false, &su, NULL) == 1 && su.status == ORCH_STARTUP_FAILED,
              "a late running report (a reconnect) and a pending one do not replace the result");
        orch_store_event_list(svc->store, id, 0, 0, &ev, NULL);
        for (size_t i = 0; i < ev.count; i++)
                if (strcmp(ev.items[i].kind, "startup") == 0 && strstr(ev.items[i].reason, "failed (exit 3) after 7 s"))
                        events++;
        orch_event_list_free(&ev);
        CHECK(events == 1, "the result is logged once as a startup event, also when the agent repeats it");
}

int main(void)
{
        _cleanup_free_ char *state = NULL, *run = NULL, *log = NULL, *sock = NULL;
        char *reply;
        _cleanup_free_ char *hello_bad = NULL, *hello_good = NULL;
        orch_image img = {.name = (char *)"img", .format = (char *)"qcow2",
                          .sha256 = (char *)"0000000000000000000000000000000000000000000000000000000000000000",
                          .virtual_size = 1 << 30, .file_size = 1 << 20};
        orch_workspace *ws, *quiet, *now, *veteran = NULL;
        char token[65], quiet_token[65];
        orch_service *svc;
        hd_error err = {0};
        int lfd, fd;

        if (!mkdtemp(dir))
                return 1;
        state = hd_path_join(dir, "state");
        run = hd_path_join(dir, "run");
        log = hd_path_join(dir, "log");
        orch_params p = {
                .state_dir = state, .run_dir = run, .log_dir = log,
                .libvirt_uri = getenv("HOSTD_TEST_LIBVIRT_URI") ? getenv("HOSTD_TEST_LIBVIRT_URI") : "qemu:///system",
                .virt_type = "qemu", .network = "default", .agent_binary = "/bin/true",
                .max_image_size = 1ull << 40, .default_vcpus = 1, .max_vcpus = 4, .default_memory_mib = 256,
                .max_memory_mib = 1024, .default_disk_gib = 1, .max_disk_gib = 10,
                .agent_hello_timeout = 2, .stop_timeout = 5,
        };
        svc = orch_service_open(&p, &err);
        if (!CHECK(svc != NULL, "the service opens on a temporary state dir")) {
                printf("#   %s\n", err.message);
                return tl_done();
        }
        CHECK(orch_store_image_insert(svc->store, &img, &err) == 0, "an image row exists");
        ws = running_workspace(svc, "talker", token);
        quiet = running_workspace(svc, "quiet", quiet_token);
        if (!CHECK(ws && quiet, "two workspaces in state running"))
                return tl_done();
        sock = orch_agent_socket_path(svc, ws->id);
        lfd = listen_at(sock);
        CHECK(lfd >= 0, "the test listens where qemu binds the agent channel");

        fd = host_connects(svc, lfd);
        CHECK(fd >= 0, "hostd connects to a running workspace's agent socket");
        hello_bad = hd_asprintf("{\"type\":\"hello\",\"proto\":1,\"agent_version\":\"t\",\"workspace_id\":\"%s\","
                                "\"token\":\"%s\"}\n", ws->id, quiet_token);
        reply = exchange(svc, fd, hello_bad);
        CHECK_CONTAINS(reply, "\"type\":\"error\"", "a hello with another workspace's token gets an error");
        CHECK_CONTAINS(reply, "wrong token", "the error says what is wrong");
        free(reply);
        reply = exchange(svc, fd, NULL);
        CHECK_STR(reply, "EOF", "and hostd hangs up");
        close(fd);
        free(reply);

        fd = host_connects(svc, lfd);
        CHECK(fd >= 0, "hostd connects again");
        hello_good = hd_asprintf("{\"type\":\"hello\",\"proto\":1,\"agent_version\":\"t\",\"workspace_id\":\"%s\","
                                 "\"token\":\"%s\"}\n", ws->id, token);
        reply = exchange(svc, fd, hello_good);
        CHECK_CONTAINS(reply, "\"type\":\"welcome\"", "the right token is welcomed");
        free(reply);
        reply = exchange(svc, fd,
                         "{\"type\":\"ready\",\"cloud_init\":{\"status\":\"done\",\"errors\":[]}}\n"
                         "{\"type\":\"heartbeat\",\"seq\":1,\"ssh_sessions\":0,\"users\":0,\"load1\":0.5,"
                         "\"addresses\":[{\"iface\":\"eth0\",\"family\":\"inet6\",\"address\":\"fd00::5\",\"prefix\":64},"
                         "{\"iface\":\"eth0\",\"family\":\"inet\",\"address\":\"192.0.2.7\",\"prefix\":24}]}\n");
        free(reply);
        now = orch_store_workspace_get(svc->store, ws->id, NULL);
        CHECK(now && now->state == ORCH_WS_READY, "ready plus an address moves the workspace to ready");
        CHECK(now && now->ip_addresses && strcmp(now->ip_addresses, "[\"192.0.2.7\",\"fd00::5\"]") == 0,
              "addresses are recorded, IPv4 first");
        CHECK(now && now->last_heartbeat_at > 0, "the heartbeat is recorded");
        orch_workspace_free(now);
        test_startup(svc, fd, ws->id);

        /* One that talked before hostd restarted: heartbeats recorded, no link now. */
        {
                char veteran_token[65];
                orch_workspace *v = running_workspace(svc, "veteran", veteran_token);
                orch_ws_update hb = {.last_heartbeat = "{\"type\":\"heartbeat\"}"};
                CHECK(v && orch_store_workspace_update(svc->store, v->id, &hb, NULL) == 0,
                      "a workspace whose agent reported before a hostd restart");
                veteran = v;
        }
        sleep(3);
        orch_agents_poll(svc, 50, NULL, NULL);
        now = orch_store_workspace_get(svc->store, veteran->id, NULL);
        CHECK(now && now->state == ORCH_WS_RUNNING,
              "is not failed for a missing hello while its agent reconnects after a hostd restart");
        orch_workspace_free(now);
        now = orch_store_workspace_get(svc->store, quiet->id, NULL);
        CHECK(now && now->state == ORCH_WS_FAILED && now->reason && strstr(now->reason, "did not say hello"),
              "a workspace whose agent never says hello is failed, with the reason");
        orch_workspace_free(now);
        now = orch_store_workspace_get(svc->store, ws->id, NULL);
        CHECK(now && now->state == ORCH_WS_READY, "the talking workspace is not affected");
        orch_workspace_free(now);

        close(fd);
        close(lfd);
        orch_workspace_free(ws);
        orch_workspace_free(quiet);
        orch_workspace_free(veteran);
        orch_service_close(svc);
        {
                const char *rm[] = {"rm", "-rf", dir, NULL};
                hd_run(rm, NULL, NULL);
        }
        return tl_done();
}

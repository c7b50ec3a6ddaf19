/* test-agent-conn.c — the built hostd-agent binary against a fake hostd.
 *
 * A guest's virtio-serial port cannot be made here, so the agent's --port is
 * a unix socket this test listens on (the agent connect(2)s when the path is
 * a socket). The test checks what hostd relies on: hello with the token
 * first on every connection, ready, heartbeats; reconnecting after the host
 * closes; surviving garbage; stopping cleanly on SIGTERM; the startup
 * script's result reported, and the script not run again when the agent
 * starts again (the next boot). The binary is
 * $B/hostd-agent, or ../hostd-agent from this test's own executable. Every
 * wait is bounded by a deadline of a few seconds. */
#include "common/common.h"
#include "tests/fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

static char tmpdir[] = "/tmp/hostd-test-agent-conn-XXXXXX";
static char *agent, *fixtures;

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the fake host ---------------------------------------------------------- */

typedef struct host {
        int listen_fd, fd;
        size_t len;
        char buf[1 << 18];
} host;

static int host_listen(host *h, const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        h->fd = -1;
        h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(h->listen_fd, 4) < 0)
                return -1;
        return 0;
}

static bool host_accept(host *h, int ms)
{
        struct pollfd pfd = {.fd = h->listen_fd, .events = POLLIN};

        if (poll(&pfd, 1, ms) != 1)
                return false;
        h->fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        h->len = 0;
        return h->fd >= 0;
}

static void host_hangup(host *h)
{
        if (h->fd >= 0)
                close(h->fd);
        h->fd = -1;
}

static void host_send(host *h, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = send(h->fd, data, len, MSG_NOSIGNAL);
                if (n <= 0)
                        return;
                data += n, len -= (size_t)n;
        }
}

static void host_say(host *h, const char *line)
{
        host_send(h, line, strlen(line));
}

/* The next message from the agent within ms, parsed by jansson (as hostd
 * does); NULL on timeout, end of file or a line that is not JSON. */
static json_t *host_next(host *h, int ms)
{
        long long deadline = now_ms() + ms;

        for (;;) {
                char *nl = memchr(h->buf, '\n', h->len);
                struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
                long long left = deadline - now_ms();
                ssize_t n;

                if (nl) {
                        json_error_t jerr;
                        size_t line = (size_t)(nl - h->buf);
                        json_t *j = json_loadb(h->buf, line, 0, &jerr);

                        if (!j)
                                printf("# not JSON (%s): %.*s\n", jerr.text, (int)line, h->buf);
                        memmove(h->buf, nl + 1, h->len - line - 1);
                        h->len -= line + 1;
                        return j;
                }
                if (left <= 0 || h->len == sizeof(h->buf) || poll(&pfd, 1, (int)left) != 1)
                        return NULL;
                n = read(h->fd, h->buf + h->len, sizeof(h->buf) - h->len);
                if (n <= 0)
                        return NULL;
                h->len += (size_t)n;
        }
}

/* Skip messages until one of this type arrives within ms. */
static json_t *host_expect(host *h, const char *type, int ms)
{
        long long deadline = now_ms() + ms;
        json_t *j;

        while ((j = host_next(h, (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0)))) {
                const char *t = json_string_value(json_object_get(j, "type"));
                if (t && strcmp(t, type) == 0)
                        return j;
                json_decref(j);
        }
        return NULL;
}

static const char *str_of(json_t *j, const char *key)
{
        return json_string_value(json_object_get(j, key));
}

/* ---- the agent process -------------------------------------------------------- */

static pid_t spawn_agent(const char *port, const char *run)
{
        _cleanup_free_ char *cfg = hd_path_join(tmpdir, "cfg"), *proc = hd_path_join(fixtures, "proc"),
                            *log = hd_path_join(tmpdir, "agent.log"), *state = hd_path_join(tmpdir, "state");
        pid_t pid = fork();

        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
                dup2(fd, 2);
                execl(agent, agent, "--port", port, "--config-dir", cfg, "--interval", "1", "--proc", proc,
                      "--run", run, "--dev", tmpdir, "--state-dir", state, (char *)NULL);
                _exit(127);
        }
        return pid;
}

/* Exit status of pid within ms, or -1 (then it is killed). */
static int wait_exit(pid_t pid, int ms)
{
        long long deadline = now_ms() + ms;
        int status;

        while (now_ms() < deadline) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                usleep(10000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
}

static void test_cli(void)
{
        _cleanup_free_ char *out = NULL, *proc = hd_path_join(fixtures, "proc");
        const char *version[] = {agent, "--version", NULL};
        const char *once[] = {agent, "--once", "--proc", proc, "--run", "/nonexistent", "--dev", "/nonexistent", NULL};
        const char *bad[] = {agent, "--interval", "0", NULL};
        hd_error err = {0};
        json_t *j;

        CHECK(hd_run(version, &out, &err) == 0, "--version runs");
        CHECK_CONTAINS(out, "hostd-agent 0.1.0 (protocol 1)", "--version names the agent and protocol versions");
        free(out);
        out = NULL;
        CHECK(hd_run(once, &out, &err) == 0, "--once runs without a port or config");
        j = out ? json_loads(out, 0, NULL) : NULL;
        CHECK(j && strcmp(str_of(j, "type"), "heartbeat") == 0 &&
                      json_integer_value(json_object_get(j, "ssh_sessions")) == 3,
              "--once prints one heartbeat for the given /proc");
        json_decref(j);
        CHECK(hd_run(bad, NULL, &err) == -1, "a bad --interval is refused");
        CHECK_CONTAINS(err.message, "status 2", "a usage error exits with status 2");
}

static void test_session(void)
{
        static host h;
        _cleanup_free_ char *port = hd_path_join(tmpdir, "port.sock"), *cfg = hd_path_join(tmpdir, "cfg"),
                            *token = hd_path_join(cfg, "token"), *wsid = hd_path_join(cfg, "workspace-id"),
                            *run = hd_path_join(fixtures, "cloudinit/done"), *logpath = hd_path_join(tmpdir, "agent.log"),
                            *log = NULL, *big = NULL;
        const char secret[] = "s3cr3t-\"tok\\en\"";
        hd_error err = {0};
        long long seq1, seq2;
        size_t loglen;
        pid_t pid;
        json_t *j;

        hd_mkdir_p(cfg, 0700, &err);
        hd_write_file_atomic(token, secret, strlen(secret), 0400, &err);
        hd_write_file_atomic(wsid, "ws-42\n", 6, 0644, &err);

        /* The agent starts before the host listens, as when hostd is down. */
        pid = spawn_agent(port, run);
        usleep(200000);
        CHECK(host_listen(&h, port) == 0, "the fake host listens");
        CHECK(host_accept(&h, 3000), "the agent connects once the host appears");

        j = host_next(&h, 2000);
        CHECK_STR(str_of(j, "type"), "hello", "the first message is hello");
        CHECK_STR(str_of(j, "token"), secret, "hello carries the token exactly");
        CHECK_STR(str_of(j, "workspace_id"), "ws-42", "hello carries the workspace id");
        CHECK(json_integer_value(json_object_get(j, "proto")) == 1, "hello says protocol 1");
        json_decref(j);
        host_say(&h, "{\"type\":\"welcome\",\"proto\":1}\n");

        j = host_next(&h, 2000);
        CHECK_STR(str_of(j, "type"), "ready", "ready follows once cloud-init has finished");
        CHECK_STR(str_of(json_object_get(j, "cloud_init"), "status"), "done", "ready carries cloud-init's status");
        json_decref(j);
        j = host_expect(&h, "heartbeat", 2000);
        seq1 = json_integer_value(json_object_get(j, "seq"));
        CHECK(j && json_integer_value(json_object_get(j, "ssh_sessions")) == 3, "heartbeats carry the activity figures");
        json_decref(j);
        j = host_expect(&h, "heartbeat", 2500);
        seq2 = json_integer_value(json_object_get(j, "seq"));
        CHECK(j && seq2 == seq1 + 1, "heartbeats come every interval with increasing seq");
        json_decref(j);

        /* The host goes away: the agent must come back and say hello again. */
        host_hangup(&h);
        CHECK(host_accept(&h, 5000), "the agent reconnects after the host closed the connection");
        j = host_next(&h, 2000);
        CHECK(j && strcmp(str_of(j, "type"), "hello") == 0 && strcmp(str_of(j, "token"), secret) == 0,
              "hello, with the token, is the first message again");
        json_decref(j);
        j = host_expect(&h, "ready", 2000);
        CHECK(j != NULL, "ready is sent again on the new connection");
        json_decref(j);

        /* Garbage from the host. */
        big = hd_malloc0(70001);
        memset(big, 'x', 70000);
        big[69999] = '\n';
        host_send(&h, "}{garbage\n\x00\xff\n[1,2]\n{\"type\":\"reboot\"}\n", 37);
        host_send(&h, big, 70000);
        host_say(&h, "{\"type\":\"error\",\"message\":\"token rejected\\n<0>forged\"}\n");
        host_say(&h, "{\"type\":\"welcome\",\"proto\":2}\n");
        j = host_expect(&h, "heartbeat", 2500);
        CHECK(j != NULL, "the agent survives garbage and keeps sending heartbeats");
        CHECK(json_integer_value(json_object_get(j, "seq")) > seq2, "seq keeps increasing across reconnects");
        json_decref(j);
        CHECK(waitpid(pid, NULL, WNOHANG) == 0, "the agent is still running");

        kill(pid, SIGTERM);
        CHECK(wait_exit(pid, 2000) == 0, "SIGTERM stops the agent cleanly with status 0");
        host_hangup(&h);
        close(h.listen_fd);

        if (hd_read_file(logpath, 1 << 20, &log, &loglen, &err) < 0) {
                CHECK(false, err.message);
                return;
        }
        CHECK_CONTAINS(log, "<3>host reports an error: token rejected?<0>forged\n",
                       "the host's error is logged at level err, on one line");
        CHECK_CONTAINS(log, "longer than 65536 bytes", "an overlong line is reported");
        CHECK_CONTAINS(log, "unknown type \"reboot\"", "an unknown message type is reported");
        CHECK_CONTAINS(log, "protocol 2", "a protocol mismatch in welcome is reported");
        CHECK(strstr(log, "s3cr3t") == NULL, "the token never appears in the log");
        {
                bool prefixed = true;
                for (const char *line = log; *line; line = strchr(line, '\n') + 1) {
                        prefixed &= line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>';
                        if (!strchr(line, '\n'))
                                break;
                }
                CHECK(prefixed, "every log line starts with a syslog priority for journald");
        }
}

static void test_startup(void)
{
        static host h;
        _cleanup_free_ char *port = hd_path_join(tmpdir, "startup.sock"), *cfg = hd_path_join(tmpdir, "cfg"),
                            *script = hd_path_join(cfg, "startup-script"), *limit = hd_path_join(cfg, "startup-timeout"),
                            *count = hd_path_join(tmpdir, "runs"), *run = hd_path_join(fixtures, "cloudinit/done"),
                            *body = hd_asprintf("#!/bin/sh\necho run >> %s\necho script output\nsleep 1\n", count),
                            *runs = NULL;
        hd_error err = {0};
        size_t len;
        pid_t pid;
        json_t *j;

        hd_write_file_atomic(script, body, strlen(body), 0700, &err);
        hd_write_file_atomic(limit, "5\n", 2, 0644, &err);
        CHECK(host_listen(&h, port) == 0, "the fake host listens");
        for (int boot = 1; boot <= 2; boot++) {
                pid = spawn_agent(port, run);
                CHECK(host_accept(&h, 3000), "the agent connects");
                do {
                        j = host_expect(&h, "startup", 5000);
                        if (j && strcmp(str_of(j, "status"), "succeeded") == 0)
                                break;
                        json_decref(j);
                } while (j);
                CHECK(j && strcmp(str_of(j, "output"), "script output\n") == 0 &&
                              json_integer_value(json_object_get(j, "exit_status")) == 0 &&
                              json_integer_value(json_object_get(j, "timeout_s")) == 5,
                      boot == 1 ? "the agent runs the startup script and reports its result, output and time limit"
                                : "after a restart the agent reports the same result again");
                json_decref(j);
                kill(pid, SIGTERM);
                wait_exit(pid, 3000);
                host_hangup(&h);
        }
        close(h.listen_fd);
        CHECK(hd_read_file(count, 4096, &runs, &len, &err) == 0 && strcmp(runs, "run\n") == 0,
              "the script ran once over two starts of the agent");
}

static void test_stop_while_waiting(void)
{
        _cleanup_free_ char *port = hd_path_join(tmpdir, "nobody.sock");
        long long start;
        pid_t pid = spawn_agent(port, "/nonexistent");

        usleep(100000);
        start = now_ms();
        kill(pid, SIGTERM);
        CHECK(wait_exit(pid, 2000) == 0 && now_ms() - start < 500,
              "SIGTERM stops the agent at once while it waits for the host");
}

int main(void)
{
        const char *b = getenv("B");
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};
        const char *fx = getenv("HOSTD_FIXTURES");

        agent = b ? hd_path_join(b, "hostd-agent") : tl_find_up("hostd-agent");
        fixtures = fx ? hd_path_join(fx, "agent") : tl_find_up("tests/fixtures/agent");
        signal(SIGPIPE, SIG_IGN);
        if (!CHECK(agent && access(agent, X_OK) == 0, "the hostd-agent binary is found ($B/hostd-agent)") ||
            !CHECK(fixtures != NULL, "tests/fixtures/agent is found") || !CHECK(mkdtemp(tmpdir) != NULL, "temp dir"))
                return tl_done();

        test_cli();
        test_session();
        test_startup();
        test_stop_while_waiting();

        hd_run(rm, NULL, NULL);
        free(agent);
        free(fixtures);
        return tl_done();
}

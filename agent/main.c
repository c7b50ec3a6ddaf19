/* main.c — hostd-agent: options, signals and the connection loop.
 *
 * Open the port; wait until the host end is connected (virtio-serial sends
 * SIGIO when it does, so the wait ends at once); say hello (with the
 * workspace's token), ready once cloud-init has finished, and a heartbeat
 * every interval; log what the host says; when the host goes away, close,
 * back off (1 s doubling to 10 s) and start over. SIGTERM/SIGINT end the
 * agent cleanly at any point. It never opens a network connection.
 *
 * A template's startup script (<config-dir>/startup-script) is run once per
 * workspace by a child process (startup.c), started before the first
 * connection so that it does not wait for hostd; each connection reports its
 * record (a "startup" message) whenever it changes. */
#include "agent/agent.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define DEFAULT_PORT "/dev/virtio-ports/org.hostd.agent.0"
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 10000
#define SEND_TIMEOUT_MS 10000
#define STABLE_SESSION_MS 10000 /* a session this long resets the back-off */
#define MAX_COMPLAINTS 5        /* bad host lines logged per connection */

typedef struct options {
        const char *port, *config_dir, *state_dir;
        const char *nvidia_smi; /* NULL: look in the fixed folders */
        ag_paths paths;
        int interval_s;
        bool once;
} options;

typedef struct session {
        int complaints; /* bad lines from the host on this connection */
        bool startup_sent; /* the startup record below was sent on this connection */
        ag_startup_record startup;
} session;

/* The startup script: where it is and its runner, a child process. */
typedef struct startup {
        char script[PATH_MAX];
        char workspace_id[256];
        ag_startup_cfg cfg;
        pid_t runner; /* -1: none running */
} startup;

static volatile sig_atomic_t stop_signal;
static sigset_t waitmask; /* the mask during waits: SIGTERM/SIGINT let through */
static ag_gpu_cache gpu_cache; /* nvidia-smi's result, kept for one interval */
static startup su = {.runner = -1};

static void on_signal(int sig)
{
        stop_signal = sig;
}

static void on_wakeup(int sig)
{
        (void)sig; /* SIGIO only interrupts the current wait */
}

/* Sleep *backoff_ms (cut short by a signal: a stop, or SIGIO when the host
 * end of the port connects), then double it up to the maximum. */
static void back_off(int *backoff_ms)
{
        struct timespec ts = {*backoff_ms / 1000, (long)(*backoff_ms % 1000) * 1000000};

        if (!stop_signal)
                ppoll(NULL, 0, &ts, &waitmask);
        *backoff_ms = *backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff_ms * 2;
}

/* Log a recurring problem only when it changes, not at every retry. */
static void log_once(char *last, size_t size, int level, const char *msg)
{
        if (strcmp(last, msg) != 0) {
                ag_log(level, "%s", msg);
                snprintf(last, size, "%s", msg);
        }
}

static int read_identity(const char *dir, const char *name, char *buf, size_t size,
                         char *why, size_t whysize)
{
        char path[PATH_MAX];
        ssize_t len;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        len = ag_read_value(path, buf, size);
        if (len < 0) {
                snprintf(why, whysize, "cannot read %.300s: %s; hello waits for it", path,
                         errno == EFBIG ? "too large" : strerror(errno));
                return -1;
        }
        for (ssize_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)buf[i];
                if (c < 0x20 || c == 0x7f) {
                        snprintf(why, whysize, "%.300s holds control characters; write it again", path);
                        return -1;
                }
        }
        return 0;
}

/* Log a bad line from the host, at most MAX_COMPLAINTS per connection. */
static bool may_complain(session *s)
{
        if (++s->complaints <= MAX_COMPLAINTS)
                return true;
        if (s->complaints == MAX_COMPLAINTS + 1)
                ag_log(AG_LOG_WARNING, "more bad lines from the host; not logging them until it reconnects");
        return false;
}

static void on_host_line(const char *line, size_t len, void *ctx)
{
        session *s = ctx;
        ag_host_msg m;
        char safe[1024];

        if (len == 0)
                return;
        if (len == SIZE_MAX) {
                if (may_complain(s))
                        ag_log(AG_LOG_WARNING, "dropped a line from the host longer than %d bytes", AG_LINE_MAX);
                return;
        }
        ag_host_parse(line, len, &m);
        switch (m.kind) {
        case AG_HOST_WELCOME:
                if (m.proto == AG_PROTO)
                        ag_log(AG_LOG_NOTICE, "host welcomed the agent (protocol %d)", AG_PROTO);
                else
                        ag_log(AG_LOG_WARNING, "host welcomed the agent with protocol %lld; this agent speaks %d",
                               m.proto, AG_PROTO);
                break;
        case AG_HOST_ERROR:
                ag_log_sanitize(m.text, safe, sizeof(safe));
                ag_log(AG_LOG_ERR, "host reports an error: %s", safe);
                break;
        case AG_HOST_UNKNOWN:
                ag_log_sanitize(m.type, safe, sizeof(safe));
                if (may_complain(s))
                        ag_log(AG_LOG_WARNING, "ignoring a host message of unknown type \"%s\"", safe);
                break;
        case AG_HOST_INVALID:
                if (may_complain(s))
                        ag_log(AG_LOG_WARNING, "ignoring a line from the host that is not a JSON object "
                                               "with a \"type\" (%zu bytes)", len);
                break;
        }
}

static int send_msg(ag_port *p, const char *buf, ssize_t len, const char *what)
{
        if (len < 0) {
                ag_log(AG_LOG_ERR, "the %s message does not fit in one line; not sent", what);
                return 0;
        }
        if (ag_port_send_line(p, buf, (size_t)len, SEND_TIMEOUT_MS, &waitmask, &stop_signal) < 0) {
                if (!stop_signal)
                        ag_log(AG_LOG_NOTICE, "cannot send %s to the host: %s", what, strerror(errno));
                return -1;
        }
        return 0;
}

/* <config-dir>/startup-timeout: whole seconds, written by hostd from the
 * template; the default when missing or unreadable. */
static int startup_timeout(const char *config_dir)
{
        char path[PATH_MAX], buf[32], *end;
        long v;

        snprintf(path, sizeof(path), "%s/startup-timeout", config_dir);
        if (ag_read_value(path, buf, sizeof(buf)) < 0)
                return AG_STARTUP_TIMEOUT_S;
        v = strtol(buf, &end, 10);
        if (*end || v < 1 || v > 7 * 24 * 3600) {
                ag_log(AG_LOG_WARNING, "%s is not a number of seconds (1 to 604800); using %d", path,
                       AG_STARTUP_TIMEOUT_S);
                return AG_STARTUP_TIMEOUT_S;
        }
        return (int)v;
}

/* Start the startup script's runner when the script is due. */
static void startup_begin(const options *o)
{
        char why[512];

        snprintf(su.script, sizeof(su.script), "%s/startup-script", o->config_dir);
        if (read_identity(o->config_dir, "workspace-id", su.workspace_id, sizeof(su.workspace_id), why, sizeof(why)) < 0)
                su.workspace_id[0] = '\0';
        su.cfg = (ag_startup_cfg){.script = su.script, .state_dir = o->state_dir, .run = o->paths.run,
                                  .workspace_id = su.workspace_id, .timeout_s = startup_timeout(o->config_dir),
                                  .ci_wait_s = AG_STARTUP_CI_WAIT_S, .kill_grace_ms = AG_STARTUP_KILL_GRACE_MS};
        if (!ag_startup_due(&su.cfg))
                return;
        su.runner = fork();
        if (su.runner == 0)
                _exit(ag_startup_run(&su.cfg) < 0 ? 1 : 0);
        if (su.runner < 0)
                ag_log(AG_LOG_ERR, "cannot start the startup script's runner: %s", strerror(errno));
}

/* Reap the runner; a record it left "running" when it died says so. */
static void startup_reap(void)
{
        int status;

        if (su.runner <= 0 || waitpid(su.runner, &status, WNOHANG) != su.runner)
                return;
        su.runner = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                ag_log(AG_LOG_ERR, "the startup script's runner ended abnormally (status %d)", status);
        ag_startup_abandon(&su.cfg, "the agent's script runner ended while the script ran; it is not run again");
}

/* Send the startup record when it changed since it was last sent on this
 * connection. -1 when the host went away. */
static int startup_report(ag_port *p, session *s, char *buf, size_t cap)
{
        ag_startup_record r;

        startup_reap();
        if (!su.cfg.script || ag_startup_read(su.cfg.state_dir, &r) < 0 ||
            strcmp(r.workspace_id, su.workspace_id) != 0)
                return 0;
        if (s->startup_sent && r.status == s->startup.status && r.finished_at == s->startup.finished_at &&
            r.started_at == s->startup.started_at)
                return 0;
        if (send_msg(p, buf, ag_startup_message(buf, cap, &r, su.cfg.state_dir), "startup") < 0)
                return -1;
        s->startup = r;
        s->startup_sent = true;
        return 0;
}

/* One connection, from hello until the host goes away or a stop signal. */
static void run_session(ag_port *p, const options *o, const char *ws_id, const char *token,
                        unsigned long long *seq)
{
        static char buf[AG_LINE_MAX + 1];
        session s = {0};
        bool ready_sent = false;
        int64_t next_beat = ag_mono_ms();

        if (send_msg(p, buf, ag_msg_hello(buf, sizeof(buf), ws_id, token), "hello") < 0)
                return;
        ag_log(AG_LOG_NOTICE, "connected to the host; said hello for workspace %s", ws_id);
        while (!stop_signal) {
                struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
                int64_t now = ag_mono_ms(), wait;
                struct timespec ts;

                if (now >= next_beat) {
                        ag_sample sample;

                        if (!ready_sent) {
                                ag_cloudinit ci;

                                ag_cloudinit_read(o->paths.run, &ci);
                                if (ci.status != AG_CI_PENDING) {
                                        if (send_msg(p, buf, ag_msg_ready(buf, sizeof(buf), &ci), "ready") < 0)
                                                return;
                                        ag_log(AG_LOG_INFO, "told the host the workspace is ready (cloud-init: %s)",
                                               ag_ci_status_name(ci.status));
                                        ready_sent = true;
                                }
                        }
                        if (startup_report(p, &s, buf, sizeof(buf)) < 0)
                                return;
                        ag_collect_now(&o->paths, &sample);
                        ag_gpu_cached(&gpu_cache, o->nvidia_smi, (int64_t)o->interval_s * 1000, &sample.gpu,
                                      &waitmask, &stop_signal);
                        if (stop_signal)
                                return;
                        now = ag_mono_ms(); /* nvidia-smi may have taken a while */
                        if (send_msg(p, buf, ag_msg_heartbeat(buf, sizeof(buf), ++*seq, &sample), "heartbeat") < 0)
                                return;
                        next_beat += (int64_t)o->interval_s * 1000;
                        if (next_beat <= now)
                                next_beat = now + (int64_t)o->interval_s * 1000;
                }
                wait = next_beat - now;
                ts.tv_sec = wait / 1000;
                ts.tv_nsec = (long)(wait % 1000) * 1000000;
                if (ppoll(&pfd, 1, &ts, &waitmask) < 0) {
                        if (errno == EINTR)
                                continue;
                        ag_log(AG_LOG_ERR, "poll: %s", strerror(errno));
                        return;
                }
                if (pfd.revents & POLLIN) {
                        if (ag_port_read(p, on_host_line, &s) < 0)
                                return;
                } else if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
                        return;
                }
        }
}

static int run(const options *o)
{
        char last[512] = "", why[512], ws_id[256], token[4096];
        unsigned long long seq = 0;
        int retry = BACKOFF_MIN_MS; /* the port or the identity files are missing */
        int again = BACKOFF_MIN_MS; /* reconnecting after a connection ended */
        ag_port port = {.fd = -1};

        ag_log(AG_LOG_INFO, "hostd-agent %s starting; port %s", AG_VERSION, o->port);
        startup_begin(o);
        while (!stop_signal) {
                int wait = BACKOFF_MIN_MS;
                int64_t started;

                if (ag_port_open(&port, o->port) < 0) {
                        snprintf(why, sizeof(why), "cannot open %s: %s; retrying", o->port, strerror(errno));
                        log_once(last, sizeof(last), AG_LOG_WARNING, why);
                        back_off(&retry);
                        continue;
                }
                ag_port_notify(&port);
                while (!stop_signal && ag_port_host_connected(&port) != 1) {
                        log_once(last, sizeof(last), AG_LOG_INFO, "waiting for the host to connect");
                        back_off(&wait);
                }
                if (stop_signal)
                        break;
                if (read_identity(o->config_dir, "workspace-id", ws_id, sizeof(ws_id), why, sizeof(why)) < 0 ||
                    read_identity(o->config_dir, "token", token, sizeof(token), why, sizeof(why)) < 0) {
                        log_once(last, sizeof(last), AG_LOG_ERR, why);
                        ag_port_close(&port);
                        back_off(&retry);
                        continue;
                }
                last[0] = '\0';
                retry = BACKOFF_MIN_MS;
                started = ag_mono_ms();
                run_session(&port, o, ws_id, token, &seq);
                ag_port_close(&port);
                explicit_bzero(token, sizeof(token));
                if (stop_signal)
                        break;
                ag_log(AG_LOG_NOTICE, "the host went away; reconnecting");
                if (ag_mono_ms() - started >= STABLE_SESSION_MS)
                        again = BACKOFF_MIN_MS;
                back_off(&again);
        }
        ag_port_close(&port);
        if (su.runner > 0) /* it ends the script and records that it was interrupted */
                kill(su.runner, SIGTERM);
        ag_log(AG_LOG_INFO, "stopping on signal %d", (int)stop_signal);
        return 0;
}

static int once(const options *o)
{
        static char buf[AG_LINE_MAX + 1];
        ag_sample sample;
        ssize_t len;

        ag_collect_now(&o->paths, &sample);
        ag_gpu_cached(&gpu_cache, o->nvidia_smi, 0, &sample.gpu, NULL, NULL);
        len = ag_msg_heartbeat(buf, sizeof(buf), 1, &sample);
        if (len < 0) {
                ag_log(AG_LOG_ERR, "the heartbeat does not fit in one line");
                return 1;
        }
        printf("%s\n", buf);
        return fflush(stdout) == 0 ? 0 : 1;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: hostd-agent [--port PATH] [--config-dir DIR] [--state-dir DIR] [--interval SECONDS]\n"
                   "                   [--proc ROOT] [--run ROOT] [--dev ROOT] [--nvidia-smi PATH]\n"
                   "                   [--once] [--version]\n"
                   "The hostd workspace agent: reports readiness and activity to hostd over\n"
                   "a virtio-serial port (or a unix socket, for tests). Defaults: --port %s,\n"
                   "--config-dir /etc/hostd-agent, --state-dir /var/lib/hostd-agent, --interval 5,\n"
                   "--proc /proc, --run /run, --dev /dev,\n"
                   "--nvidia-smi: the first of /usr/bin, /usr/local/bin, /usr/local/nvidia/bin that has it.\n",
                DEFAULT_PORT);
}

static int parse_options(int argc, char **argv, options *o)
{
        static const struct option longopts[] = {
                {"port", required_argument, NULL, 'p'},     {"config-dir", required_argument, NULL, 'c'},
                {"interval", required_argument, NULL, 'i'}, {"proc", required_argument, NULL, 'P'},
                {"run", required_argument, NULL, 'R'},      {"dev", required_argument, NULL, 'D'},
                {"once", no_argument, NULL, 'o'},           {"version", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},           {"nvidia-smi", required_argument, NULL, 'N'},
                {"state-dir", required_argument, NULL, 's'},
                {NULL, 0, NULL, 0},
        };
        int c;

        *o = (options){.port = DEFAULT_PORT, .config_dir = "/etc/hostd-agent", .state_dir = "/var/lib/hostd-agent",
                       .paths = {.proc = "/proc", .run = "/run", .dev = "/dev"}, .interval_s = 5};
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                char *end;
                long v;

                switch (c) {
                case 'p': o->port = optarg; break;
                case 'c': o->config_dir = optarg; break;
                case 's': o->state_dir = optarg; break;
                case 'P': o->paths.proc = optarg; break;
                case 'R': o->paths.run = optarg; break;
                case 'D': o->paths.dev = optarg; break;
                case 'o': o->once = true; break;
                case 'N':
                        if (optarg[0] != '/') {
                                fprintf(stderr, "hostd-agent: --nvidia-smi takes an absolute path, not \"%s\"\n", optarg);
                                return 2;
                        }
                        o->nvidia_smi = optarg;
                        break;
                case 'i':
                        v = strtol(optarg, &end, 10);
                        if (*end || end == optarg || v < 1 || v > 3600) {
                                fprintf(stderr, "hostd-agent: --interval takes whole seconds from 1 to 3600, not \"%s\"\n", optarg);
                                return 2;
                        }
                        o->interval_s = (int)v;
                        break;
                case 'V': printf("hostd-agent %s (protocol %d)\n", AG_VERSION, AG_PROTO); return 0;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "hostd-agent: unexpected argument \"%s\"\n", argv[optind]);
                return 2;
        }
        return -1;
}

int main(int argc, char **argv)
{
        struct sigaction sa = {.sa_handler = on_signal}, wake = {.sa_handler = on_wakeup};
        sigset_t blocked;
        options o;
        int rc = parse_options(argc, argv, &o);

        if (rc >= 0)
                return rc;
        if (o.once)
                return once(&o);

        /* These signals are blocked except inside ppoll(), so none is lost
         * between checking stop_signal and starting to wait. */
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGTERM);
        sigaddset(&blocked, SIGINT);
        sigaddset(&blocked, SIGIO);
        sigprocmask(SIG_BLOCK, &blocked, &waitmask);
        sigdelset(&waitmask, SIGTERM);
        sigdelset(&waitmask, SIGINT);
        sigdelset(&waitmask, SIGIO);
        sigemptyset(&sa.sa_mask);
        sigemptyset(&wake.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGIO, &wake, NULL);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        return run(&o);
}

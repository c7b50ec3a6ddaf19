/* startup.c — the template's startup script: run once per workspace, as
 * root, after cloud-init has finished (or after a bounded wait for it), with
 * a time limit, and its result recorded for hostd.
 *
 * Two files in the state folder (/var/lib/hostd-agent, mode 0700):
 *   startup.json  the record: "running", then the result; written to a
 *                 temporary file, fsync'ed and renamed, so it is whole
 *   startup.log   everything the script wrote to stdout and stderr
 * A record naming this workspace means the script ran, or runs: it is never
 * run again, not after a reboot either. The output goes to a file, not a
 * pipe, so a daemon the script leaves behind never gets SIGPIPE, and the
 * whole output stays readable in the guest; hostd gets its last 64 KiB.
 *
 * ag_startup_run blocks (the agent runs it in a child process) and waits
 * with sigtimedwait for SIGCHLD and for SIGTERM/SIGINT, which end it. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define RECORD "startup.json"
#define LOG "startup.log"
#define CI_POLL_MS 2000

static const char *const status_names[] = {
        [AG_SU_RUNNING] = "running",
        [AG_SU_SUCCEEDED] = "succeeded",
        [AG_SU_FAILED] = "failed",
        [AG_SU_TIMED_OUT] = "timed_out",
};

const char *ag_startup_status_name(ag_startup_status s)
{
        return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s] : "failed";
}

static void path_in(char *out, const char *dir, const char *name)
{
        snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

/* ---- the record ---------------------------------------------------------------- */

static long long int_member(const ag_jval *obj, const char *key, long long dflt)
{
        ag_jval v;
        long long n;

        if (ag_json_get(obj, key, &v) < 0 || ag_json_int(&v, &n) < 0)
                return dflt;
        return n;
}

int ag_startup_read(const char *state_dir, ag_startup_record *r)
{
        char path[PATH_MAX], text[4096], status[32] = "";
        ag_jval root, v;
        ssize_t len;
        bool known = false;

        memset(r, 0, sizeof(*r));
        r->exit_status = -1;
        path_in(path, state_dir, RECORD);
        len = ag_read_file(path, text, sizeof(text));
        if (len < 0)
                return -1;
        if (ag_json_parse(text, (size_t)len, &root) < 0 || root.type != AG_J_OBJ ||
            ag_json_get(&root, "status", &v) < 0 || v.type != AG_J_STR) {
                errno = EPROTO;
                return -1;
        }
        ag_json_str(&v, status, sizeof(status));
        for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]) && !known; i++)
                if (strcmp(status, status_names[i]) == 0) {
                        r->status = (ag_startup_status)i;
                        known = true;
                }
        if (!known) {
                errno = EPROTO;
                return -1;
        }
        if (ag_json_get(&root, "workspace_id", &v) == 0 && v.type == AG_J_STR)
                ag_json_str(&v, r->workspace_id, sizeof(r->workspace_id));
        if (ag_json_get(&root, "note", &v) == 0 && v.type == AG_J_STR)
                ag_json_str(&v, r->note, sizeof(r->note));
        r->started_at = int_member(&root, "started_at", 0);
        r->finished_at = int_member(&root, "finished_at", 0);
        r->exit_status = (int)int_member(&root, "exit_status", -1);
        r->signal = (int)int_member(&root, "signal", 0);
        r->timeout_s = (int)int_member(&root, "timeout_s", 0);
        r->output_bytes = int_member(&root, "output_bytes", 0);
        return 0;
}

static int write_whole(int fd, const char *s, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, s, n);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                s += w;
                n -= (size_t)w;
        }
        return 0;
}

int ag_startup_write(const char *state_dir, const ag_startup_record *r)
{
        char path[PATH_MAX], tmp[PATH_MAX], text[4096];
        ag_jw w;
        ssize_t len;
        int fd, e;

        ag_jw_init(&w, text, sizeof(text));
        ag_jw_obj_begin(&w);
        ag_jw_key(&w, "workspace_id");
        ag_jw_str(&w, r->workspace_id);
        ag_jw_key(&w, "status");
        ag_jw_str(&w, ag_startup_status_name(r->status));
        ag_jw_key(&w, "started_at");
        ag_jw_int(&w, r->started_at);
        ag_jw_key(&w, "finished_at");
        ag_jw_int(&w, r->finished_at);
        ag_jw_key(&w, "exit_status");
        ag_jw_int(&w, r->exit_status);
        ag_jw_key(&w, "signal");
        ag_jw_int(&w, r->signal);
        ag_jw_key(&w, "timeout_s");
        ag_jw_int(&w, r->timeout_s);
        ag_jw_key(&w, "output_bytes");
        ag_jw_int(&w, r->output_bytes);
        ag_jw_key(&w, "note");
        ag_jw_str(&w, r->note);
        ag_jw_obj_end(&w);
        if ((len = ag_jw_finish(&w)) < 0) {
                errno = EOVERFLOW;
                return -1;
        }
        text[len++] = '\n';
        path_in(path, state_dir, RECORD);
        path_in(tmp, state_dir, "." RECORD ".tmp");
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -1;
        if (write_whole(fd, text, (size_t)len) < 0 || fsync(fd) < 0) {
                e = errno;
                close(fd);
                unlink(tmp);
                errno = e;
                return -1;
        }
        close(fd);
        if (rename(tmp, path) < 0) {
                e = errno;
                unlink(tmp);
                errno = e;
                return -1;
        }
        return 0;
}

/* A record of this workspace left "running": failed, with why. */
static void close_abandoned(const ag_startup_cfg *c, ag_startup_record *r, const char *why)
{
        r->status = AG_SU_FAILED;
        snprintf(r->note, sizeof(r->note), "%s", why);
        if (ag_startup_write(c->state_dir, r) < 0)
                ag_log(AG_LOG_ERR, "cannot record the startup script's end in %s: %s", c->state_dir,
                       strerror(errno));
}

bool ag_startup_due(const ag_startup_cfg *c)
{
        ag_startup_record r;
        struct stat st;

        if (stat(c->script, &st) < 0)
                return false;
        if (ag_startup_read(c->state_dir, &r) < 0) {
                if (errno != ENOENT)
                        ag_log(AG_LOG_WARNING, "the startup script's record in %s is unreadable (%s): running it again",
                               c->state_dir, strerror(errno));
                return true;
        }
        /* A record left by another workspace (an image made from a workspace
         * disk) does not count. */
        if (strcmp(r.workspace_id, c->workspace_id) != 0)
                return true;
        if (r.status == AG_SU_RUNNING)
                close_abandoned(c, &r, "interrupted: the guest or the agent stopped while the script ran; "
                                       "it is not run again");
        return false;
}

void ag_startup_abandon(const ag_startup_cfg *c, const char *why)
{
        ag_startup_record r;

        if (ag_startup_read(c->state_dir, &r) == 0 && r.status == AG_SU_RUNNING &&
            strcmp(r.workspace_id, c->workspace_id) == 0)
                close_abandoned(c, &r, why);
}

/* ---- running it ---------------------------------------------------------------- */

/* The next of the signals in set within ms, or 0. */
static int next_signal(const sigset_t *set, int64_t ms)
{
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
        int sig;

        if (ms < 0)
                ts.tv_sec = ts.tv_nsec = 0;
        sig = sigtimedwait(set, NULL, &ts);
        return sig < 0 ? 0 : sig;
}

/* Wait for pid until deadline (ag_mono_ms): 1 when it ended (*status set),
 * 0 at the deadline, -1 when SIGTERM or SIGINT came first (if stoppable). */
static int wait_child(pid_t pid, int *status, int64_t deadline, const sigset_t *set, bool stoppable)
{
        for (;;) {
                pid_t r = waitpid(pid, status, WNOHANG);
                int64_t left;
                int sig;

                if (r == pid)
                        return 1;
                if (r < 0 && errno != EINTR) {
                        *status = 0;
                        return 1;
                }
                left = deadline - ag_mono_ms();
                if (left <= 0)
                        return 0;
                sig = next_signal(set, left < 1000 ? left : 1000);
                if (stoppable && (sig == SIGTERM || sig == SIGINT))
                        return -1;
        }
}

/* End the script's whole process group: SIGTERM, then SIGKILL after grace_ms. */
static void end_group(pid_t pid, int *status, int grace_ms, const sigset_t *set)
{
        bool done;

        kill(-pid, SIGTERM);
        done = wait_child(pid, status, ag_mono_ms() + grace_ms, set, false) == 1;
        kill(-pid, SIGKILL);
        while (!done && waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
}

static pid_t spawn_script(const ag_startup_cfg *c, int log_fd)
{
        static char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        static char home[] = "HOME=/root", user[] = "USER=root", logname[] = "LOGNAME=root",
                    shell[] = "SHELL=/bin/sh", lang[] = "LANG=C.UTF-8";
        char wsid[300];
        char *const envp[] = {path, home, user, logname, shell, lang, wsid, NULL};
        char *const argv[] = {(char *)c->script, NULL};

        snprintf(wsid, sizeof(wsid), "HOSTD_WORKSPACE_ID=%s", c->workspace_id);
        return ag_spawn(c->script, argv, envp, log_fd, log_fd);
}

/* Wait for cloud-init, at most c->ci_wait_s: 0 (note set when it did not
 * finish), or 1 when a stop signal came. */
static int wait_cloud_init(const ag_startup_cfg *c, ag_startup_record *r, const sigset_t *set)
{
        int64_t deadline = ag_mono_ms() + (int64_t)c->ci_wait_s * 1000;

        for (;;) {
                ag_cloudinit ci;
                int64_t left = deadline - ag_mono_ms();
                int sig;

                ag_cloudinit_read(c->run, &ci);
                if (ci.status != AG_CI_PENDING)
                        return 0;
                if (left <= 0) {
                        snprintf(r->note, sizeof(r->note), "cloud-init had not finished after %d s; the script ran anyway",
                                 c->ci_wait_s);
                        return 0;
                }
                sig = next_signal(set, left < CI_POLL_MS ? left : CI_POLL_MS);
                if (sig == SIGTERM || sig == SIGINT)
                        return 1;
        }
}

static void record_end(ag_startup_record *r, int status, int log_fd)
{
        struct stat st;

        if (WIFEXITED(status))
                r->exit_status = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                r->signal = WTERMSIG(status);
        r->finished_at = time(NULL);
        if (fstat(log_fd, &st) == 0)
                r->output_bytes = st.st_size;
        fsync(log_fd);
}

static int run_blocked(const ag_startup_cfg *c, const sigset_t *set)
{
        char logpath[PATH_MAX];
        ag_startup_record r = {.status = AG_SU_RUNNING, .exit_status = -1, .timeout_s = c->timeout_s};
        _ag_cleanup_close_ int log_fd = -1;
        int status = 0, w;
        pid_t pid;

        snprintf(r.workspace_id, sizeof(r.workspace_id), "%s", c->workspace_id);
        if (wait_cloud_init(c, &r, set) == 1)
                return 1;
        if (mkdir(c->state_dir, 0700) < 0 && errno != EEXIST) {
                ag_log(AG_LOG_ERR, "cannot make %s for the startup script: %s", c->state_dir, strerror(errno));
                return -1;
        }
        path_in(logpath, c->state_dir, LOG);
        log_fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        r.started_at = time(NULL);
        /* Without a record the script would run again at every boot: not at all then. */
        if (log_fd < 0 || ag_startup_write(c->state_dir, &r) < 0) {
                ag_log(AG_LOG_ERR, "cannot write the startup script's files in %s: %s; not running it", c->state_dir,
                       strerror(errno));
                return -1;
        }
        ag_log(AG_LOG_INFO, "running the startup script %s (time limit %d s)", c->script, c->timeout_s);
        pid = spawn_script(c, log_fd);
        if (pid < 0) {
                r.status = AG_SU_FAILED;
                snprintf(r.note, sizeof(r.note), "cannot run %.300s: %s", c->script, strerror(errno));
                r.finished_at = time(NULL);
                return ag_startup_write(c->state_dir, &r) < 0 ? -1 : 0;
        }
        w = wait_child(pid, &status, ag_mono_ms() + (int64_t)c->timeout_s * 1000, set, true);
        if (w == 1) {
                r.status = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? AG_SU_SUCCEEDED : AG_SU_FAILED;
        } else {
                end_group(pid, &status, c->kill_grace_ms, set);
                r.status = w == 0 ? AG_SU_TIMED_OUT : AG_SU_FAILED;
                if (w < 0)
                        snprintf(r.note, sizeof(r.note),
                                 "interrupted: the agent was stopped while the script ran; it is not run again");
        }
        record_end(&r, status, log_fd);
        ag_log(r.status == AG_SU_SUCCEEDED ? AG_LOG_INFO : AG_LOG_WARNING, "the startup script %s (exit %d, signal %d)",
               ag_startup_status_name(r.status), r.exit_status, r.signal);
        if (ag_startup_write(c->state_dir, &r) < 0) {
                ag_log(AG_LOG_ERR, "cannot record the startup script's result in %s: %s", c->state_dir,
                       strerror(errno));
                return -1;
        }
        return 0;
}

int ag_startup_run(const ag_startup_cfg *c)
{
        sigset_t set, old;
        int r;

        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, &old);
        r = run_blocked(c, &set);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}

/* ---- reporting it ---------------------------------------------------------------- */

/* The last bytes of the first `upto` bytes of startup.log (at most size). */
static size_t read_tail(const char *state_dir, long long upto, char *buf, size_t size, bool *truncated)
{
        char path[PATH_MAX];
        _ag_cleanup_close_ int fd = -1;
        long long from = upto > (long long)size ? upto - (long long)size : 0;
        size_t len = 0;

        *truncated = from > 0;
        path_in(path, state_dir, LOG);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return 0;
        while (len < (size_t)(upto - from)) {
                ssize_t n = pread(fd, buf + len, (size_t)(upto - from) - len, (off_t)(from + (long long)len));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        return len;
}

ssize_t ag_startup_message(char *buf, size_t cap, const ag_startup_record *r, const char *state_dir)
{
        static char tail[AG_STARTUP_OUTPUT_MAX];
        bool truncated = false;
        size_t len = 0, skip = 0;

        if (r->status == AG_SU_RUNNING)
                return ag_msg_startup(buf, cap, r, NULL, 0, false);
        len = read_tail(state_dir, r->output_bytes, tail, sizeof(tail), &truncated);
        /* Escaping may make the text longer than a line: drop its start, 1 KiB
         * at a time, never in the middle of a UTF-8 character. */
        for (;;) {
                ssize_t n = ag_msg_startup(buf, cap, r, tail + skip, len - skip, truncated || skip > 0);

                if (n >= 0 || skip == len)
                        return n;
                skip = len - skip > 1024 ? skip + 1024 : len;
                while (skip < len && ((unsigned char)tail[skip] & 0xc0) == 0x80)
                        skip++;
        }
}

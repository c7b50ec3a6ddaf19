/* gpu.c — the guest's NVIDIA GPU utilisation for the heartbeat, from
 * `nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits`.
 *
 * nvidia-smi is run with posix_spawn from an argv (no shell), from a fixed
 * list of folders, in its own process group, with a hard time limit (the
 * group is killed when it runs over) and its output capped. Its output is
 * read strictly: anything unexpected makes the figures unknown, never 0.
 * A result is cached so a slow nvidia-smi delays at most one heartbeat. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static const char *const smi_dirs[] = {"/usr/bin", "/usr/local/bin", "/usr/local/nvidia/bin"};

const char *ag_gpu_find_smi(char *buf, size_t size)
{
        for (size_t i = 0; i < sizeof(smi_dirs) / sizeof(smi_dirs[0]); i++) {
                if ((size_t)snprintf(buf, size, "%s/nvidia-smi", smi_dirs[i]) >= size)
                        continue;
                if (access(buf, X_OK) == 0)
                        return buf;
        }
        return NULL;
}

/* One line: an integer 0-100 (surrounding blanks allowed) or "[N/A]".
 * 0 with *pct set (-1 for N/A), or -1 for anything else. */
static int parse_line(const char *p, const char *end, int *pct)
{
        int v = 0, digits = 0;

        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
                p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
        if (end - p == 5 && memcmp(p, "[N/A]", 5) == 0) {
                *pct = -1;
                return 0;
        }
        for (; p < end && *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
                v = v * 10 + (*p - '0');
        if (p != end || digits == 0 || digits > 3 || v > 100)
                return -1;
        *pct = v;
        return 0;
}

int ag_gpu_parse(const char *text, size_t len, ag_gpu *g)
{
        const char *p = text, *end = text + len;
        ag_gpu r = {.util_pct = -1, .gpus = 0};

        g->util_pct = g->gpus = -1;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *eol = nl ? nl : end;
                int pct;

                if (parse_line(p, eol, &pct) < 0)
                        return -1;
                r.gpus++;
                if (pct > r.util_pct)
                        r.util_pct = pct;
                p = nl ? nl + 1 : end;
        }
        *g = r;
        return 0;
}

/* Wait up to deadline (ag_mono_ms) for pid to exit; its wait status, or -1. */
static int reap_by(pid_t pid, int64_t deadline)
{
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                struct timespec ts = {0, 10 * 1000000};

                if (r == pid)
                        return status;
                if (r < 0 && errno != EINTR)
                        return -1;
                if (ag_mono_ms() >= deadline)
                        return -1;
                nanosleep(&ts, NULL);
        }
}

static void kill_group(pid_t pid)
{
        int status;

        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
}

static pid_t spawn_smi(const char *smi, int out_fd)
{
        static char path[] = "PATH=/usr/bin:/bin:/usr/local/bin:/usr/local/nvidia/bin", lc[] = "LC_ALL=C";
        static char query[] = "--query-gpu=utilization.gpu", format[] = "--format=csv,noheader,nounits";
        char *const envp[] = {path, lc, NULL};
        char *const argv[] = {(char *)smi, query, format, NULL};

        return ag_spawn(smi, argv, envp, out_fd, -1);
}

int ag_gpu_query(const char *smi, int timeout_ms, ag_gpu *g, const sigset_t *waitmask,
                 const volatile sig_atomic_t *stop)
{
        static char out[AG_GPU_OUT_MAX + 1];
        int64_t deadline = ag_mono_ms() + timeout_ms;
        size_t len = 0;
        int fds[2], status;
        pid_t pid;

        g->util_pct = g->gpus = -1;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -1;
        pid = spawn_smi(smi, fds[1]);
        close(fds[1]);
        if (pid < 0) {
                close(fds[0]);
                return -1;
        }
        for (;;) {
                struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
                int64_t left = deadline - ag_mono_ms();
                struct timespec ts;
                ssize_t n;

                if (left <= 0) {
                        close(fds[0]);
                        kill_group(pid);
                        errno = ETIMEDOUT;
                        return -1;
                }
                ts.tv_sec = left / 1000;
                ts.tv_nsec = (long)(left % 1000) * 1000000;
                if (ppoll(&pfd, 1, &ts, waitmask) < 0) {
                        if (errno == EINTR && !(stop && *stop))
                                continue;
                        close(fds[0]);
                        kill_group(pid);
                        errno = EINTR;
                        return -1;
                }
                if (!pfd.revents)
                        continue;
                n = read(fds[0], out + len, sizeof(out) - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
                if (len > AG_GPU_OUT_MAX) {
                        close(fds[0]);
                        kill_group(pid);
                        errno = EFBIG;
                        return -1;
                }
        }
        close(fds[0]);
        /* Its stdout is closed; it still has to exit within the time limit. */
        status = reap_by(pid, deadline);
        if (status == -1) {
                kill_group(pid);
                errno = ETIMEDOUT;
                return -1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || ag_gpu_parse(out, len, g) < 0) {
                errno = EPROTO;
                return -1;
        }
        return 0;
}

void ag_gpu_cached(ag_gpu_cache *c, const char *smi, int64_t max_age_ms, ag_gpu *g,
                   const sigset_t *waitmask, const volatile sig_atomic_t *stop)
{
        char found[64];
        int64_t now = ag_mono_ms();

        if (c->valid && now - c->at_ms < (c->hung && max_age_ms < AG_GPU_HUNG_RETRY_MS ? AG_GPU_HUNG_RETRY_MS : max_age_ms)) {
                *g = c->last;
                return;
        }
        if (!smi)
                smi = ag_gpu_find_smi(found, sizeof(found));
        c->hung = false;
        if (!smi) {
                g->util_pct = g->gpus = -1;
        } else if (ag_gpu_query(smi, AG_GPU_TIMEOUT_MS, g, waitmask, stop) < 0) {
                if (errno == EINTR)
                        return; /* stopping: nothing worth caching */
                /* A hung nvidia-smi (a wedged driver) is not asked again soon. */
                c->hung = errno == ETIMEDOUT;
        }
        c->valid = true;
        c->last = *g;
        c->at_ms = ag_mono_ms();
}

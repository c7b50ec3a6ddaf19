/* run.c — fork/exec a child from argv with its stdout and stderr captured. */
#include "common/run.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define RUN_OUTPUT_MAX (16u << 20)

/* Read both pipes until EOF on both; stop collecting past the cap. */
static void drain(int out_fd, int err_fd, hd_buf *out, hd_buf *errbuf)
{
        struct pollfd pfd[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
        hd_buf *dst[2] = {out, errbuf};
        char chunk[8192];
        int open_fds = 2;

        while (open_fds > 0) {
                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        ssize_t n;

                        if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = read(pfd[i].fd, chunk, sizeof(chunk));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                pfd[i].fd = -1;
                                open_fds--;
                                continue;
                        }
                        if (dst[i]->len < RUN_OUTPUT_MAX)
                                hd_buf_append_len(dst[i], chunk, (size_t)n);
                }
        }
}

/* The last non-empty line of a program's stderr, for error messages. */
static const char *last_line(hd_buf *b)
{
        char *end;

        if (!b->data)
                return "";
        while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == ' '))
                b->data[--b->len] = '\0';
        end = strrchr(b->data, '\n');
        return end ? end + 1 : b->data;
}

int hd_run(const char *const argv[], char **out, hd_error *err)
{
        _cleanup_buf_ hd_buf obuf = HD_BUF_INIT;
        _cleanup_buf_ hd_buf ebuf = HD_BUF_INIT;
        int opipe[2], epipe[2];
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status, r;

        if (pipe2(opipe, O_CLOEXEC) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "pipe");
        if (pipe2(epipe, O_CLOEXEC) < 0) {
                close(opipe[0]);
                close(opipe[1]);
                return hd_error_errno(err, HD_E_IO, errno, "pipe");
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
        posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(opipe[1]);
        close(epipe[1]);
        if (r != 0) {
                close(opipe[0]);
                close(epipe[0]);
                return hd_error_errno(err, HD_E_IO, r, "cannot run %s", argv[0]);
        }
        drain(opipe[0], epipe[0], &obuf, &ebuf);
        close(opipe[0]);
        close(epipe[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return hd_error_errno(err, HD_E_IO, errno, "waitpid %s", argv[0]);
        if (WIFSIGNALED(status))
                return hd_error_set(err, HD_E_IO, "%s killed by signal %d", argv[0], WTERMSIG(status));
        if (WEXITSTATUS(status) != 0)
                return hd_error_set(err, HD_E_IO, "%s exited with status %d: %s", argv[0],
                                    WEXITSTATUS(status), last_line(&ebuf));
        if (out)
                *out = hd_buf_steal(&obuf);
        return 0;
}

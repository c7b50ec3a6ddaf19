/* port.c — the agent's end of the channel to hostd.
 *
 * In a guest the channel is a virtio-serial port (/dev/virtio-ports/…): it
 * opens at any time, reports POLLHUP while no host program is connected to
 * the other end, and read() returns 0 once the host side goes away. For tests
 * and debugging the path may also be a unix stream socket, which is
 * connect(2)ed; its hang-up and end-of-file read the same. Everything is
 * non-blocking: waiting happens in ppoll() with the caller's signal mask, so
 * SIGTERM always interrupts a wait. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#define MAX_READS_PER_CALL 64

int ag_port_open(ag_port *p, const char *path)
{
        struct stat st;

        p->fd = -1;
        p->in_len = 0;
        p->discarding = false;
        if (stat(path, &st) < 0)
                return -1;
        p->is_socket = S_ISSOCK(st.st_mode);
        if (p->is_socket) {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                int fd;

                if (strlen(path) >= sizeof(sa.sun_path)) {
                        errno = ENAMETOOLONG;
                        return -1;
                }
                strcpy(sa.sun_path, path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -1;
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        int e = errno == EINPROGRESS ? EAGAIN : errno;
                        close(fd);
                        errno = e;
                        return -1;
                }
                p->fd = fd;
        } else {
                p->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
                if (p->fd < 0)
                        return -1;
        }
        return 0;
}

void ag_port_close(ag_port *p)
{
        if (p->fd >= 0)
                close(p->fd);
        p->fd = -1;
}

void ag_port_notify(ag_port *p)
{
        int flags = fcntl(p->fd, F_GETFL);

        if (fcntl(p->fd, F_SETOWN, getpid()) == 0 && flags >= 0)
                fcntl(p->fd, F_SETFL, flags | O_ASYNC);
}

int ag_port_host_connected(ag_port *p)
{
        struct pollfd pfd = {.fd = p->fd, .events = POLLOUT};

        if (poll(&pfd, 1, 0) < 0)
                return errno == EINTR ? 0 : -1;
        return (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) ? 0 : 1;
}

int ag_port_send_line(ag_port *p, const char *data, size_t len, int timeout_ms,
                      const sigset_t *waitmask, const volatile sig_atomic_t *stop)
{
        struct iovec iov[2] = {{(void *)data, len}, {(void *)"\n", 1}};
        struct iovec *cur = iov;
        int left = 2;
        int64_t deadline = ag_mono_ms() + timeout_ms;

        while (left > 0) {
                struct msghdr msg = {.msg_iov = cur, .msg_iovlen = (size_t)left};
                ssize_t n = p->is_socket ? sendmsg(p->fd, &msg, MSG_NOSIGNAL) : writev(p->fd, cur, left);

                if (n > 0) {
                        size_t done = (size_t)n;
                        while (left > 0 && done >= cur->iov_len) {
                                done -= cur->iov_len;
                                cur++, left--;
                        }
                        if (left > 0) {
                                cur->iov_base = (char *)cur->iov_base + done;
                                cur->iov_len -= done;
                        }
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n == 0 || errno != EAGAIN) {
                        if (n == 0)
                                errno = EPIPE;
                        return -1;
                }
                /* The host is not reading yet: wait for room, within the deadline. */
                for (;;) {
                        struct pollfd pfd = {.fd = p->fd, .events = POLLOUT};
                        int64_t wait = deadline - ag_mono_ms();
                        struct timespec ts;
                        int r;

                        if (wait <= 0) {
                                errno = ETIMEDOUT;
                                return -1;
                        }
                        ts.tv_sec = wait / 1000;
                        ts.tv_nsec = (wait % 1000) * 1000000;
                        r = ppoll(&pfd, 1, &ts, waitmask);
                        if (r < 0 && errno == EINTR && !*stop)
                                continue;
                        if (r < 0)
                                return -1;
                        if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
                                errno = EPIPE;
                                return -1;
                        }
                        if (pfd.revents & POLLOUT)
                                break;
                }
        }
        return 0;
}

/* Hand every complete line in the buffer to on_line; keep the rest. */
static void split_lines(ag_port *p, size_t scan_from,
                        void (*on_line)(const char *, size_t, void *), void *ctx)
{
        size_t start = 0;
        char *nl;

        while ((nl = memchr(p->in + scan_from, '\n', p->in_len - scan_from))) {
                size_t end = (size_t)(nl - p->in);

                if (p->discarding)
                        p->discarding = false; /* the tail of an overlong line */
                else
                        on_line(p->in + start, end - start, ctx);
                start = scan_from = end + 1;
        }
        memmove(p->in, p->in + start, p->in_len - start);
        p->in_len -= start;
        if (p->in_len == sizeof(p->in)) {
                /* No newline within AG_LINE_MAX + 1 bytes: drop the line whole. */
                if (!p->discarding)
                        on_line(NULL, SIZE_MAX, ctx);
                p->discarding = true;
                p->in_len = 0;
        }
}

int ag_port_read(ag_port *p, void (*on_line)(const char *line, size_t len, void *ctx), void *ctx)
{
        for (int i = 0; i < MAX_READS_PER_CALL; i++) {
                size_t old = p->in_len;
                ssize_t n = read(p->fd, p->in + old, sizeof(p->in) - old);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        if (n == 0)
                                errno = EPIPE;
                        return -1;
                }
                p->in_len += (size_t)n;
                split_lines(p, old, on_line, ctx);
        }
        return 0;
}

/* log.c — hostd-agent's log lines, clock and small file reads.
 *
 * The agent runs under systemd with stderr connected to the journal, so each
 * line starts with a "<N>" syslog priority that journald turns into the level. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ag_log(int level, const char *fmt, ...)
{
        char msg[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "<%d>%s\n", level, msg);
        fflush(stderr);
}

void ag_log_sanitize(const char *s, char *out, size_t size)
{
        size_t i = 0;

        for (; s && *s && i + 1 < size; s++, i++) {
                unsigned char c = (unsigned char)*s;
                out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        out[i] = '\0';
}

int64_t ag_mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ssize_t ag_read_file(const char *path, char *buf, size_t size)
{
        _ag_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        size_t len = 0;

        if (fd < 0)
                return -1;
        for (;;) {
                ssize_t n;

                if (len + 1 >= size) {
                        char extra;
                        /* Full: the file fits only if nothing is left. */
                        n = read(fd, &extra, 1);
                        if (n == 0)
                                break;
                        if (n < 0 && errno == EINTR)
                                continue;
                        errno = n < 0 ? errno : EFBIG;
                        return -1;
                }
                n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        return (ssize_t)len;
}

ssize_t ag_read_value(const char *path, char *buf, size_t size)
{
        ssize_t len = ag_read_file(path, buf, size);

        if (len < 0)
                return -1;
        while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
                buf[--len] = '\0';
        if (len == 0) {
                errno = ENODATA;
                return -1;
        }
        return len;
}

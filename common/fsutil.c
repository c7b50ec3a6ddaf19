/* fsutil.c — atomic writes, whole-file reads and mkdir -p. */
#include "common/fsutil.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *hd_path_join(const char *dir, const char *name)
{
        size_t n = strlen(dir);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        while (*name == '/')
                name++;
        return hd_asprintf("%.*s/%s", (int)n, dir, name);
}

static int write_all(int fd, const void *data, size_t len)
{
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int hd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         hd_error *err)
{
        _cleanup_free_ char *tmp = hd_asprintf("%s.tmp.XXXXXX", path);
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);

        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot create %s", tmp);
        if (write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                int e = errno;
                unlink(tmp);
                return hd_error_errno(err, HD_E_IO, e, "cannot write %s", path);
        }
        if (rename(tmp, path) < 0) {
                int e = errno;
                unlink(tmp);
                return hd_error_errno(err, HD_E_IO, e, "cannot rename %s to %s", tmp, path);
        }
        return 0;
}

int hd_read_file(const char *path, size_t max, char **data, size_t *len_out, hd_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;
        char chunk[8192];

        if (fd < 0)
                return hd_error_errno(err, errno == ENOENT ? HD_E_NOT_FOUND : HD_E_IO, errno,
                                      "cannot open %s", path);
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return hd_error_errno(err, HD_E_IO, errno, "cannot read %s", path);
                }
                if (n == 0)
                        break;
                if (b.len + (size_t)n > max)
                        return hd_error_set(err, HD_E_TOO_LARGE, "%s is larger than %zu bytes",
                                            path, max);
                hd_buf_append_len(&b, chunk, (size_t)n);
        }
        if (len_out)
                *len_out = b.len;
        *data = hd_buf_steal(&b);
        return 0;
}

int hd_mkdir_p(const char *path, mode_t mode, hd_error *err)
{
        _cleanup_free_ char *p = hd_strdup(path);

        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot create directory %s", p);
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return hd_error_errno(err, HD_E_IO, errno, "cannot create directory %s", p);
        return 0;
}

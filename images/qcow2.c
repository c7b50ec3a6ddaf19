/* qcow2.c — reading a qcow2 header ourselves (the format's spec, docs/interop/qcow2.txt
 * in QEMU): its version, size, encryption, incompatible features and backing
 * file name, without asking any program that might follow what the file says. */
#include "images/images-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_BACKING_NAME_MAX 1023

static uint32_t be32(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
        return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Read exactly len bytes at off, or fewer at the end of the file. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        return (ssize_t)done;
}

bool img_qcow2_has_magic(int fd)
{
        unsigned char m[4];

        return pread_full(fd, m, sizeof(m), 0) == (ssize_t)sizeof(m) && be32(m) == QCOW2_MAGIC;
}

int img_qcow2_read_header(int fd, img_qcow2_header *h, hd_error *err)
{
        unsigned char hdr[QCOW2_V3_HEADER_LEN] = {0};
        uint64_t backing_off;
        uint32_t backing_len;
        ssize_t n;

        memset(h, 0, sizeof(*h));
        n = pread_full(fd, hdr, sizeof(hdr), 0);
        if (n < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot read the image header");
        if (n < QCOW2_V2_HEADER_LEN || be32(hdr) != QCOW2_MAGIC)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE, "it has no qcow2 header");
        h->version = be32(hdr + 4);
        if (h->version != 2 && h->version != 3)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE, "its qcow2 version %u is not 2 or 3",
                                    h->version);
        if (h->version == 3 && n < QCOW2_V3_HEADER_LEN)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE, "its qcow2 v3 header is cut short");
        backing_off = be64(hdr + 8);
        backing_len = be32(hdr + 16);
        h->cluster_bits = be32(hdr + 20);
        h->size = be64(hdr + 24);
        h->crypt_method = be32(hdr + 32);
        if (h->version == 3)
                h->incompatible_features = be64(hdr + 72);

        if (backing_off != 0) {
                _cleanup_free_ char *name = NULL;

                if (backing_len > QCOW2_BACKING_NAME_MAX)
                        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                            "its backing file name is %u bytes long (at most %d)",
                                            backing_len, QCOW2_BACKING_NAME_MAX);
                name = hd_malloc0(backing_len + 1);
                n = backing_off > (uint64_t)INT64_MAX - backing_len
                            ? 0
                            : pread_full(fd, name, backing_len, (off_t)backing_off);
                if (n < 0)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot read the backing file name");
                if ((size_t)n != backing_len)
                        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                            "its backing file name lies beyond the end of the file");
                h->backing = steal_ptr(name);
        }
        return 0;
}

void img_qcow2_header_clear(img_qcow2_header *h)
{
        free(h->backing);
        h->backing = NULL;
}

int img_disk_backing(const char *path, char **backing_out, hd_error *err)
{
        _cleanup_close_ int fd = -1;
        img_qcow2_header h;

        if (!path || !backing_out)
                return hd_error_set(err, HD_E_INVALID, "img_disk_backing needs a path and an output");
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return hd_error_errno(err, errno == ENOENT ? HD_E_NOT_FOUND : HD_E_IO, errno,
                                      "cannot open %s", path);
        if (img_qcow2_read_header(fd, &h, err) < 0)
                return hd_error_prefix(err, "%s is not a usable qcow2 file", path);
        *backing_out = h.backing;
        return 0;
}

/* hash.c — SHA-256 (OpenSSL EVP) of a file as it is read once, optionally
 * copied at the same time; the one file of images/ that includes OpenSSL. */
#include "images/images-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define HOLE_BLOCK 65536u

HD_DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)

static bool all_zero(const unsigned char *p, size_t n)
{
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Write a chunk, leaving holes where whole blocks are zero so that a sparse
 * source stays sparse. */
static int write_sparse(int fd, const unsigned char *p, size_t len)
{
        while (len > 0) {
                size_t n = len < HOLE_BLOCK ? len : HOLE_BLOCK;

                if (all_zero(p, n)) {
                        if (lseek(fd, (off_t)n, SEEK_CUR) < 0)
                                return -1;
                } else if (write_all(fd, p, n) < 0) {
                        return -1;
                }
                p += n;
                len -= n;
        }
        return 0;
}

int img_hash_copy(int in_fd, int out_fd, uint64_t max_bytes, char hex[IMG_SHA256_HEX + 1],
                  uint64_t *bytes_out, hd_error *err)
{
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ unsigned char *buf = hd_malloc0(CHUNK);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        uint64_t total = 0;

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return hd_error_set(err, HD_E_INTERNAL, "cannot set up SHA-256 (OpenSSL)");
        for (;;) {
                ssize_t n = read(in_fd, buf, CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot read the image");
                if (n == 0)
                        break;
                total += (uint64_t)n;
                if (total > max_bytes)
                        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                            "the file is larger than %llu bytes, more than any "
                                            "image within this host's size limit can take",
                                            (unsigned long long)max_bytes);
                if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
                        return hd_error_set(err, HD_E_INTERNAL, "SHA-256 update failed (OpenSSL)");
                if (out_fd >= 0 && write_sparse(out_fd, buf, (size_t)n) < 0)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot write the copy");
        }
        if (out_fd >= 0 && ftruncate(out_fd, (off_t)total) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot write the copy");
        if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen * 2 != IMG_SHA256_HEX)
                return hd_error_set(err, HD_E_INTERNAL, "SHA-256 final failed (OpenSSL)");
        for (unsigned int i = 0; i < mdlen; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (bytes_out)
                *bytes_out = total;
        return 0;
}

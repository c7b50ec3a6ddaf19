/* tls.c — the HTTPS certificate and key: read the PEM files, refuse a key
 * that others may read, check with OpenSSL that the key matches the
 * certificate, and describe the certificate for the log. The only file of
 * api/ that uses OpenSSL; the TLS itself is libmicrohttpd's (GnuTLS). */
#include "api/https.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PEM_MAX (1u << 20)

HD_DEFINE_CLEANUP(BIO *, BIO_free)
HD_DEFINE_CLEANUP(X509 *, X509_free)
HD_DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free)

void api_tls_pem_clear(api_tls_pem *pem)
{
        if (pem->key) {
                explicit_bzero(pem->key, strlen(pem->key));
                free(pem->key);
        }
        free(pem->cert);
        pem->cert = pem->key = NULL;
}

/* A private key is for hostd alone: no bits for group or others. */
static int read_key(const char *path, char **data, hd_error *err)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return hd_error_errno(err, HD_E_INVALID, errno, "tls_key %s cannot be read", path);
        if (!S_ISREG(st.st_mode))
                return hd_error_set(err, HD_E_INVALID, "tls_key %s is not a regular file", path);
        if (st.st_mode & 077)
                return hd_error_set(err, HD_E_INVALID,
                                    "tls_key %s is open to group or others (mode %04o): a private key must be "
                                    "readable by its owner only (chmod 600 %s)",
                                    path, (unsigned)(st.st_mode & 07777), path);
        if (hd_read_file(path, PEM_MAX, data, NULL, err) < 0)
                return hd_error_prefix(err, "tls_key");
        return 0;
}

/* Never prompt for a passphrase: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
        return -1;
}

static void describe(X509 *x, api_tls_info *info)
{
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        const ASN1_TIME *end = X509_get0_notAfter(x);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        struct tm tm;
        int n;

        memset(info, 0, sizeof(*info));
        if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
            (n = BIO_read(b, info->subject, sizeof(info->subject) - 1)) > 0)
                info->subject[n] = '\0';
        snprintf(info->serial, sizeof(info->serial), "%s", hex ? hex : "?");
        if (end && ASN1_TIME_to_tm(end, &tm) == 1)
                strftime(info->not_after, sizeof(info->not_after), "%Y-%m-%dT%H:%M:%SZ", &tm);
        info->expired = end && X509_cmp_current_time(end) < 0;
        OPENSSL_free(hex);
        BN_free(bn);
}

static int validate(const char *cert_path, const char *key_path, const api_tls_pem *pem, api_tls_info *info,
                    hd_error *err)
{
        _cleanup_(BIO_freep) BIO *cb = BIO_new_mem_buf(pem->cert, -1);
        _cleanup_(BIO_freep) BIO *kb = BIO_new_mem_buf(pem->key, -1);
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        int r = 0;

        if (!cb || !kb)
                abort();
        x = PEM_read_bio_X509(cb, NULL, no_passphrase, NULL);
        if (!x)
                r = hd_error_set(err, HD_E_INVALID,
                                 "tls_cert %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", cert_path);
        else if (!(k = PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL)))
                r = hd_error_set(err, HD_E_INVALID,
                                 "tls_key %s holds no unencrypted PEM private key (an encrypted key must be "
                                 "decrypted first: openssl pkey -in KEY -out NEWKEY)",
                                 key_path);
        else if (X509_check_private_key(x, k) != 1)
                r = hd_error_set(err, HD_E_INVALID, "tls_key %s is not the key of the certificate in %s",
                                 key_path, cert_path);
        else if (info)
                describe(x, info);
        ERR_clear_error();
        return r;
}

int api_tls_load(const char *cert_path, const char *key_path, api_tls_pem *pem, api_tls_info *info,
                 hd_error *err)
{
        api_tls_pem p = {0};

        if (!cert_path || !*cert_path || !key_path || !*key_path)
                return hd_error_set(err, HD_E_INVALID, "HTTPS needs both tls_cert and tls_key (docs/https.md)");
        if (hd_read_file(cert_path, PEM_MAX, &p.cert, NULL, err) < 0) {
                if (err)
                        err->code = HD_E_INVALID;
                return hd_error_prefix(err, "tls_cert");
        }
        if (read_key(key_path, &p.key, err) < 0 || validate(cert_path, key_path, &p, info, err) < 0) {
                if (err)
                        err->code = HD_E_INVALID;
                api_tls_pem_clear(&p);
                return -1;
        }
        *pem = p;
        return 0;
}

int api_tls_check(const char *cert_path, const char *key_path, api_tls_info *info, hd_error *err)
{
        api_tls_pem pem = {0};

        if (api_tls_load(cert_path, key_path, &pem, info, err) < 0)
                return -1;
        api_tls_pem_clear(&pem);
        return 0;
}

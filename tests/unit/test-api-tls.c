/* test-api-tls.c — what hostd accepts as an HTTPS listen address and as a
 * certificate and key pair (the checks `hostd -n` and the start make):
 * keys that others can read, keys of another certificate, encrypted keys
 * and files that are not PEM are refused with a message that says what to
 * do. Certificates are made with the openssl command in a temp dir. */
#include "api/api.h"
#include "common/common.h"
#include "tests/testlib.h"

#include <sys/stat.h>

static char dir[] = "/tmp/hostd-test-tls-XXXXXX";

static char *in_dir(const char *name)
{
        return hd_path_join(dir, name);
}

/* A self-signed certificate for CN=name with its key in dir. */
static bool make_cert(const char *name, const char *extra)
{
        _cleanup_free_ char *key = hd_asprintf("%s/%s.key", dir, name);
        _cleanup_free_ char *crt = hd_asprintf("%s/%s.pem", dir, name);
        _cleanup_free_ char *subj = hd_asprintf("/CN=%s", name);
        const char *argv[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                              "-keyout", key, "-out", crt, "-days", "2", "-subj", subj, "-set_serial", "0x1234ab",
                              extra ? extra : "-noenc", NULL};
        hd_error err = {0};

        if (hd_run(argv, NULL, &err) < 0) {
                printf("# %s\n", err.message);
                return false;
        }
        return chmod(key, 0600) == 0;
}

static void test_listen(void)
{
        static const char *good[] = {"0.0.0.0:8443", "127.0.0.1:1", "[::]:8443", "[::1]:65535",
                                     "[2001:db8::7]:443"};
        static const char *bad[] = {"",           "8443",        ":8443",           "127.0.0.1",
                                    "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:84a",
                                    "::1:8443",   "[::1]8443",   "[::1]:",          "localhost:8443",
                                    "[127.0.0.1]:8443", "1.2.3:8443"};
        hd_error err = {0};
        bool ok = true;

        for (size_t i = 0; i < HD_ARRAY_SIZE(good); i++)
                if (api_listen_check(good[i], &err) < 0) {
                        printf("# %s: %s\n", good[i], err.message);
                        ok = false;
                }
        CHECK(ok, "numeric IPv4 and bracketed IPv6 listen addresses with a port are accepted");
        ok = true;
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
                if (api_listen_check(bad[i], &err) == 0) {
                        printf("# accepted: '%s'\n", bad[i]);
                        ok = false;
                }
        CHECK(ok, "listen addresses without a port, with port 0 or over 65535, names or bad IPs are refused");
        api_listen_check("hostd.example:8443", &err);
        CHECK_CONTAINS(err.message, "0.0.0.0:8443", "the message shows what a listen address looks like");
        api_listen_check("::1:8443", &err);
        CHECK_CONTAINS(err.message, "[::1]:8443", "an IPv6 address without brackets gets the bracketed form");
}

static void test_pairs(void)
{
        _cleanup_free_ char *a_crt = in_dir("a.pem"), *a_key = in_dir("a.key");
        _cleanup_free_ char *b_key = in_dir("b.key"), *c_crt = in_dir("c.pem"), *c_key = in_dir("c.key");
        _cleanup_free_ char *junk = in_dir("junk.pem"), *none = in_dir("none.pem");
        api_tls_info info;
        hd_error err = {0};

        if (!CHECK(make_cert("a", NULL) && make_cert("b", NULL) && make_cert("c", "-passout=pass:secret"),
                   "openssl makes test certificates"))
                return;
        CHECK(api_tls_check(a_crt, a_key, &info, &err) == 0, "a certificate with its own key, mode 0600, is accepted");
        CHECK_STR(info.subject, "CN=a", "the certificate's subject is reported for the log");
        CHECK_STR(info.serial, "1234AB", "its serial number too (hex)");
        CHECK(strlen(info.not_after) == 20 && !info.expired, "and its end of validity, not yet reached");

        chmod(a_key, 0640);
        CHECK(api_tls_check(a_crt, a_key, NULL, &err) < 0 && err.code == HD_E_INVALID,
              "a key readable by its group is refused");
        CHECK_CONTAINS(err.message, "chmod 600", "the message says how to fix the key's mode");
        chmod(a_key, 0604);
        CHECK(api_tls_check(a_crt, a_key, NULL, &err) < 0, "a key readable by others is refused");
        chmod(a_key, 0400);
        CHECK(api_tls_check(a_crt, a_key, NULL, &err) == 0, "a read-only key (0400) is fine");

        CHECK(api_tls_check(a_crt, b_key, NULL, &err) < 0, "the key of another certificate is refused");
        CHECK_CONTAINS(err.message, "is not the key of the certificate", "the message says the pair does not match");
        CHECK(api_tls_check(c_crt, c_key, NULL, &err) < 0, "an encrypted key is refused (hostd cannot prompt)");
        CHECK_CONTAINS(err.message, "unencrypted", "the message says the key must be unencrypted");

        hd_write_file_atomic(junk, "hello\n", 6, 0644, NULL);
        CHECK(api_tls_check(junk, a_key, NULL, &err) < 0, "a certificate file without PEM is refused");
        CHECK_CONTAINS(err.message, "BEGIN CERTIFICATE", "the message says what the file should hold");
        CHECK(api_tls_check(none, a_key, NULL, &err) < 0, "a missing certificate file is refused");
        CHECK_CONTAINS(err.message, none, "the message names the missing file");
        hd_write_file_atomic(junk, "hello\n", 6, 0600, NULL);
        CHECK(api_tls_check(a_crt, junk, NULL, &err) < 0 && strstr(err.message, "no unencrypted PEM private key"),
              "a key file without a PEM key is refused");
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", dir, NULL};

        if (!CHECK(mkdtemp(dir) != NULL, "temp dir"))
                return tl_done();
        test_listen();
        test_pairs();
        hd_run(rm, NULL, NULL);
        return tl_done();
}

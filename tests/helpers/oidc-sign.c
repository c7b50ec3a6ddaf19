/* oidc-sign.c — the identity provider of the OIDC integration test
 * (tests/integration/oidc.py), with OpenSSL and no Python crypto library:
 *
 *   oidc-sign jwk KEY.pem KID            the public JWK of a private key
 *   oidc-sign token KEY.pem KID CLAIMS   a token of CLAIMS (JSON text),
 *                                        RS256 or ES256 after the key's type */
#include "tests/jwt-sign.h"

#include <stdio.h>

static EVP_PKEY *read_key(const char *path)
{
        FILE *f = fopen(path, "re");
        EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

        if (f)
                fclose(f);
        if (!k)
                fprintf(stderr, "oidc-sign: cannot read a private key from %s\n", path);
        return k;
}

int main(int argc, char **argv)
{
        _cleanup_free_ char *out = NULL;
        EVP_PKEY *k;

        if (argc < 4 || (strcmp(argv[1], "jwk") != 0 && strcmp(argv[1], "token") != 0) ||
            (strcmp(argv[1], "token") == 0 && argc != 5)) {
                fprintf(stderr, "usage: oidc-sign jwk KEY.pem KID | oidc-sign token KEY.pem KID CLAIMS\n");
                return 2;
        }
        k = read_key(argv[2]);
        if (!k)
                return 1;
        out = strcmp(argv[1], "jwk") == 0 ? tj_jwk(k, argv[3]) : tj_token_kid(k, argv[3], argv[4]);
        puts(out);
        EVP_PKEY_free(k);
        return 0;
}

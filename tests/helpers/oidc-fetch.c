/* oidc-fetch.c — hostd's JWKS fetch (api_https_get) from the command line,
 * for tests/integration/oidc.py to try it against a loopback HTTPS server:
 *
 *   oidc-fetch URL [CA_FILE]   prints the body, or the error and exits 1 */
#include "api/oidc.h"

#include <stdio.h>

int main(int argc, char **argv)
{
        _cleanup_free_ char *body = NULL;
        hd_error err = {0};
        size_t len = 0;

        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: oidc-fetch URL [CA_FILE]\n");
                return 2;
        }
        if (api_https_get(argv[1], argc == 3 ? argv[2] : NULL, API_JWKS_FETCH_TIMEOUT, API_JWKS_MAX, &body, &len,
                          &err) < 0) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
        }
        fwrite(body, 1, len, stdout);
        return 0;
}

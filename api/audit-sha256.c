/* audit-sha256.c — SHA-256 for the audit log's hash chain, from OpenSSL's
 * libcrypto. wsctl (which verifies the chain) compiles this file too,
 * through tools/wsctl/audit-chain.c, and links libcrypto for it. */
#include "api/audit-chain.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

void api_sha256_init(api_sha256 *c)
{
        c->md = EVP_MD_CTX_new();
        if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
                abort();
}

void api_sha256_update(api_sha256 *c, const void *data, size_t len)
{
        if (EVP_DigestUpdate(c->md, data, len) != 1)
                abort();
}

void api_sha256_final(api_sha256 *c, unsigned char out[32])
{
        unsigned int n = 0;

        if (EVP_DigestFinal_ex(c->md, out, &n) != 1 || n != 32)
                abort();
        EVP_MD_CTX_free(c->md);
        c->md = NULL;
}

void api_sha256_hex(const void *data, size_t len, char out[API_AUDIT_HASH_LEN + 1])
{
        unsigned char md[32];
        api_sha256 c;

        api_sha256_init(&c);
        api_sha256_update(&c, data, len);
        api_sha256_final(&c, md);
        for (size_t i = 0; i < sizeof(md); i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* token.c — per-workspace agent tokens: random, stored only as a SHA-256 hash,
 * compared in constant time. The one orchestrator file using OpenSSL's hashing. */
#include "orchestrator/service-internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *in, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", in[i]);
}

static void sha256_hex(const char *s, char hash[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
        to_hex(md, len, hash);
}

int orch_token_new(char token[65], char hash[65], hd_error *err)
{
        unsigned char raw[32];

        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return hd_error_set(err, HD_E_INTERNAL, "the system's random generator failed");
        to_hex(raw, sizeof(raw), token);
        sha256_hex(token, hash);
        return 0;
}

bool orch_token_matches(const char *token, const char *hash)
{
        char got[65];

        if (!token || !hash || strlen(hash) != 64 || strlen(token) > 512)
                return false;
        sha256_hex(token, got);
        return CRYPTO_memcmp(got, hash, 64) == 0;
}

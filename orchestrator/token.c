/* token.c — per-workspace agent tokens and users' API tokens ("hdt_..."):
 * random, stored only as a SHA-256 hash, compared in constant time. The one
 * orchestrator file using OpenSSL's hashing. */
#include "orchestrator/service-internal.h"
#include "orchestrator/users.h"

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

void orch_sha256_hex(const char *s, char hash[65])
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
        orch_sha256_hex(token, hash);
        return 0;
}

bool orch_token_matches(const char *token, const char *hash)
{
        char got[65];

        if (!token || !hash || strlen(hash) != 64 || strlen(token) > 512)
                return false;
        orch_sha256_hex(token, got);
        return CRYPTO_memcmp(got, hash, 64) == 0;
}

/* ---- API tokens (users.h) ------------------------------------------------------ */

#define TOKEN_RANDOM_BYTES 32
#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

int orch_api_token_generate(char token[ORCH_TOKEN_LEN + 1], char hash[65], hd_error *err)
{
        unsigned char raw[TOKEN_RANDOM_BYTES];
        char b64[48];
        int n;

        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return hd_error_set(err, HD_E_INTERNAL, "cannot make a token: the system's random generator failed");
        n = EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
        OPENSSL_cleanse(raw, sizeof(raw));
        /* Standard base64 to base64url, without the padding. */
        while (n > 0 && b64[n - 1] == '=')
                n--;
        for (int i = 0; i < n; i++)
                b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
        snprintf(token, ORCH_TOKEN_LEN + 1, "%s%.*s", ORCH_TOKEN_PREFIX, n, b64);
        OPENSSL_cleanse(b64, sizeof(b64));
        orch_sha256_hex(token, hash);
        return 0;
}

void orch_api_token_hash(const char *token, char hash[65])
{
        orch_sha256_hex(token, hash);
}

bool orch_api_token_hash_equal(const char *a, const char *b)
{
        if (!a || !b || strlen(a) != 64 || strlen(b) != 64)
                return false;
        return CRYPTO_memcmp(a, b, 64) == 0;
}

int orch_api_token_parse(const char *s, hd_error *err)
{
        const size_t plen = strlen(ORCH_TOKEN_PREFIX);
        size_t len = s ? strlen(s) : 0;

        if (len < plen || strncmp(s, ORCH_TOKEN_PREFIX, plen) != 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED,
                                    "malformed token: an hostd API token starts with '%s'", ORCH_TOKEN_PREFIX);
        if (len != ORCH_TOKEN_LEN)
                return hd_error_set(err, HD_E_UNAUTHENTICATED,
                                    "malformed token: it has %zu characters, not %d (was it cut when copied?)", len,
                                    ORCH_TOKEN_LEN);
        if (strspn(s + plen, B64URL) != len - plen)
                return hd_error_set(err, HD_E_UNAUTHENTICATED,
                                    "malformed token: only letters, digits, '-' and '_' follow '%s'",
                                    ORCH_TOKEN_PREFIX);
        return 0;
}

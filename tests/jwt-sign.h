/* jwt-sign.h — what the OIDC tests play the identity provider with: keys
 * generated at test time (RSA 2048, EC P-256), their public JWKs, and
 * tokens signed with OpenSSL (RS256, ES256, and HS256 for the attack that
 * uses a public key as an HMAC secret). Used by tests/unit/test-oidc.c and
 * tests/helpers/oidc-sign.c. */
#pragma once

#include "common/common.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <string.h>

static inline char *tj_b64url(const unsigned char *d, size_t n)
{
        char *out = hd_malloc0(4 * ((n + 2) / 3) + 1);
        size_t len = (size_t)EVP_EncodeBlock((unsigned char *)out, d, (int)n);

        while (len && out[len - 1] == '=')
                out[--len] = '\0';
        for (char *c = out; *c; c++)
                *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        return out;
}

static inline char *tj_b64url_str(const char *s)
{
        return tj_b64url((const unsigned char *)s, strlen(s));
}

static inline EVP_PKEY *tj_keygen(bool ec)
{
        return ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
}

static inline bool tj_is_ec(EVP_PKEY *k)
{
        return EVP_PKEY_is_a(k, "EC");
}

static inline char *tj_bn_b64url(EVP_PKEY *k, const char *param, int pad)
{
        BIGNUM *bn = NULL;
        unsigned char buf[1024];
        int n;

        if (!EVP_PKEY_get_bn_param(k, param, &bn))
                abort();
        n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
        BN_free(bn);
        return tj_b64url(buf, (size_t)n);
}

/* The public JWK of k, as JSON text. */
static inline char *tj_jwk(EVP_PKEY *k, const char *kid)
{
        _cleanup_free_ char *a = NULL, *b = NULL;

        if (tj_is_ec(k)) {
                a = tj_bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
                b = tj_bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
                return hd_asprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"alg\":\"ES256\",\"kid\":\"%s\","
                                   "\"x\":\"%s\",\"y\":\"%s\"}", kid, a, b);
        }
        a = tj_bn_b64url(k, OSSL_PKEY_PARAM_RSA_N, 0);
        b = tj_bn_b64url(k, OSSL_PKEY_PARAM_RSA_E, 0);
        return hd_asprintf("{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}",
                           kid, a, b);
}

/* The public key as PEM text (what an attacker would use as an HMAC secret). */
static inline char *tj_public_pem(EVP_PKEY *k)
{
        BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL, *out;
        long n;

        PEM_write_bio_PUBKEY(bio, k);
        n = BIO_get_mem_data(bio, &data);
        out = hd_malloc0((size_t)n + 1);
        memcpy(out, data, (size_t)n);
        BIO_free(bio);
        return out;
}

/* A JOSE signature of input with k: RS256, or ES256 as raw r || s. */
static inline char *tj_signature(EVP_PKEY *k, const char *input)
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char sig[1024], raw[64];
        size_t n = sizeof(sig);

        if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
            EVP_DigestSign(md, sig, &n, (const unsigned char *)input, strlen(input)) != 1)
                abort();
        EVP_MD_CTX_free(md);
        if (tj_is_ec(k)) {
                const unsigned char *p = sig;
                ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
                BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
                BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
                ECDSA_SIG_free(es);
                return tj_b64url(raw, sizeof(raw));
        }
        return tj_b64url(sig, n);
}

/* header.payload from JSON texts. */
static inline char *tj_signing_input(const char *header, const char *claims)
{
        _cleanup_free_ char *h = tj_b64url_str(header), *c = tj_b64url_str(claims);
        return hd_asprintf("%s.%s", h, c);
}

/* A token of header and claims (JSON texts) signed with k. */
static inline char *tj_token(EVP_PKEY *k, const char *header, const char *claims)
{
        _cleanup_free_ char *input = tj_signing_input(header, claims);
        _cleanup_free_ char *sig = tj_signature(k, input);
        return hd_asprintf("%s.%s", input, sig);
}

/* A token with the usual header for k's algorithm and kid. */
static inline char *tj_token_kid(EVP_PKEY *k, const char *kid, const char *claims)
{
        _cleanup_free_ char *header = hd_asprintf("{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                                                  tj_is_ec(k) ? "ES256" : "RS256", kid);
        return tj_token(k, header, claims);
}

/* An HS256 token with secret as the HMAC key. */
static inline char *tj_token_hs256(const char *secret, const char *header, const char *claims)
{
        _cleanup_free_ char *input = tj_signing_input(header, claims), *sig = NULL;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input, strlen(input), mac, &n);
        sig = tj_b64url(mac, n);
        return hd_asprintf("%s.%s", input, sig);
}

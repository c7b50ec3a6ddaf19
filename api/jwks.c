/* jwks.c — a JSON Web Key Set as OpenSSL keys, and the signature check of a
 * JWT with the key its kid names. Only RSA (RS256, 2048 bits or more) and EC
 * P-256 (ES256) keys meant for signatures are kept; a key must fit the
 * token's alg (an RSA key never checks an ES256 token, nothing is ever used
 * as an HMAC secret). */
#include "api/oidc.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 64
#define RSA_MIN_BYTES 256 /* 2048 bits */
#define RSA_MAX_BYTES 1024 /* 8192 bits */
#define P256_BYTES 32

HD_DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free)
HD_DEFINE_CLEANUP(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
HD_DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)
HD_DEFINE_CLEANUP(BIGNUM *, BN_free)
HD_DEFINE_CLEANUP(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free)
HD_DEFINE_CLEANUP(OSSL_PARAM *, OSSL_PARAM_free)
HD_DEFINE_CLEANUP(ECDSA_SIG *, ECDSA_SIG_free)

typedef struct jwk {
        char kid[128];
        api_jwt_alg alg;           /* RS256 for an RSA key, ES256 for a P-256 key */
        EVP_PKEY *pkey;
} jwk;

struct api_jwks {
        atomic_int refs;
        size_t n;
        jwk keys[MAX_KEYS];
};

/* A base64url member of a key, as bytes (caller frees). */
static unsigned char *member_bytes(json_t *key, const char *name, const char *kid, size_t *len, hd_error *err)
{
        json_t *v = json_object_get(key, name);
        unsigned char *out = NULL;

        if (!json_is_string(v) || api_base64url_decode(json_string_value(v), json_string_length(v), &out, len) < 0)
                return hd_error_set(err, HD_E_INVALID, "key %s: '%s' is missing or not base64url", kid, name), NULL;
        return out;
}

/* Turn parameters into a public key, and check it (an EC point on its curve). */
static EVP_PKEY *key_from_params(const char *type, OSSL_PARAM *params, const char *kid, hd_error *err)
{
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *check = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;

        if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
                ERR_clear_error();
                return hd_error_set(err, HD_E_INVALID, "key %s: not a valid %s public key", kid, type), NULL;
        }
        check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!check || EVP_PKEY_public_check(check) <= 0) {
                ERR_clear_error();
                return hd_error_set(err, HD_E_INVALID, "key %s: the %s public key does not check out", kid, type),
                       NULL;
        }
        return steal_ptr(pkey);
}

static EVP_PKEY *rsa_key(json_t *key, const char *kid, hd_error *err)
{
        _cleanup_free_ unsigned char *nb = NULL, *eb = NULL;
        _cleanup_(BN_freep) BIGNUM *n = NULL, *e = NULL;
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        size_t nlen = 0, elen = 0;

        nb = member_bytes(key, "n", kid, &nlen, err);
        eb = nb ? member_bytes(key, "e", kid, &elen, err) : NULL;
        if (!eb)
                return NULL;
        n = BN_bin2bn(nb, (int)nlen, NULL);
        e = BN_bin2bn(eb, (int)elen, NULL);
        if (!n || !e)
                return hd_error_set(err, HD_E_INTERNAL, "out of memory"), NULL;
        if (BN_num_bytes(n) < RSA_MIN_BYTES || BN_num_bytes(n) > RSA_MAX_BYTES)
                return hd_error_set(err, HD_E_INVALID, "key %s: RSA keys must have 2048 to 8192 bits, not %d", kid,
                                    BN_num_bits(n)), NULL;
        if (elen > 8 || !BN_is_odd(e) || BN_is_one(e))
                return hd_error_set(err, HD_E_INVALID, "key %s: the RSA exponent e is not usable", kid), NULL;
        bld = OSSL_PARAM_BLD_new();
        if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) || !(params = OSSL_PARAM_BLD_to_param(bld)))
                return hd_error_set(err, HD_E_INTERNAL, "out of memory"), NULL;
        return key_from_params("RSA", params, kid, err);
}

static EVP_PKEY *ec_key(json_t *key, const char *kid, hd_error *err)
{
        _cleanup_free_ unsigned char *x = NULL, *y = NULL;
        unsigned char point[1 + 2 * P256_BYTES];
        char group[] = "prime256v1";
        size_t xlen = 0, ylen = 0;
        OSSL_PARAM params[3];

        x = member_bytes(key, "x", kid, &xlen, err);
        y = x ? member_bytes(key, "y", kid, &ylen, err) : NULL;
        if (!y)
                return NULL;
        if (xlen != P256_BYTES || ylen != P256_BYTES)
                return hd_error_set(err, HD_E_INVALID, "key %s: P-256 coordinates x and y are 32 bytes each", kid),
                       NULL;
        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, x, P256_BYTES);
        memcpy(point + 1 + P256_BYTES, y, P256_BYTES);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
        params[2] = OSSL_PARAM_construct_end();
        return key_from_params("EC", params, kid, err);
}

static bool str_member_is(json_t *key, const char *name, const char *want)
{
        json_t *v = json_object_get(key, name);
        return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/* Whether a JWKS entry is a signing key of a kind hostd verifies with; the
 * others (encryption keys, HMAC secrets, other curves and algs) are skipped. */
static bool usable(json_t *key, api_jwt_alg *alg)
{
        json_t *use = json_object_get(key, "use"), *ops = json_object_get(key, "key_ops");
        json_t *a = json_object_get(key, "alg"), *op;
        bool verify = false;
        size_t i;

        if (use && !str_member_is(key, "use", "sig"))
                return false;
        if (ops) {
                json_array_foreach(ops, i, op)
                        verify |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
                if (!verify)
                        return false;
        }
        if (str_member_is(key, "kty", "RSA") && (!a || str_member_is(key, "alg", "RS256"))) {
                *alg = API_JWT_RS256;
                return true;
        }
        if (str_member_is(key, "kty", "EC") && str_member_is(key, "crv", "P-256") &&
            (!a || str_member_is(key, "alg", "ES256"))) {
                *alg = API_JWT_ES256;
                return true;
        }
        return false;
}

static int add_key(api_jwks *ks, json_t *key, hd_error *err)
{
        json_t *kid = json_object_get(key, "kid");
        api_jwt_alg alg = 0;
        jwk *k;

        if (!json_is_object(key))
                return hd_error_set(err, HD_E_INVALID, "every entry of 'keys' must be an object");
        if (!usable(key, &alg) || !json_is_string(kid))
                return 0;
        if (!*json_string_value(kid) || json_string_length(kid) >= sizeof(k->kid))
                return hd_error_set(err, HD_E_INVALID, "a key's kid is empty or longer than %zu bytes",
                                    sizeof(k->kid) - 1);
        if (api_jwks_has(ks, json_string_value(kid)))
                return hd_error_set(err, HD_E_INVALID, "kid %s is given to two signing keys",
                                    json_string_value(kid));
        if (ks->n == MAX_KEYS)
                return hd_error_set(err, HD_E_TOO_LARGE, "the JWKS has more than %d signing keys", MAX_KEYS);
        k = &ks->keys[ks->n];
        snprintf(k->kid, sizeof(k->kid), "%s", json_string_value(kid));
        k->alg = alg;
        k->pkey = alg == API_JWT_RS256 ? rsa_key(key, k->kid, err) : ec_key(key, k->kid, err);
        if (!k->pkey)
                return -1;
        ks->n++;
        return 0;
}

api_jwks *api_jwks_parse(const char *json, size_t len, hd_error *err)
{
        _cleanup_json_ json_t *root = NULL;
        api_jwks *ks;
        json_error_t jerr;
        json_t *keys, *key;
        size_t i;

        if (len > API_JWKS_MAX)
                return hd_error_set(err, HD_E_TOO_LARGE, "the JWKS is larger than %d bytes", API_JWKS_MAX), NULL;
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return hd_error_set(err, HD_E_INVALID, "the JWKS is not JSON: %s (line %d)", jerr.text, jerr.line),
                       NULL;
        keys = json_object_get(root, "keys");
        if (!json_is_array(keys))
                return hd_error_set(err, HD_E_INVALID, "the JWKS has no 'keys' array"), NULL;
        ks = hd_malloc0(sizeof(*ks));
        atomic_init(&ks->refs, 1);
        json_array_foreach(keys, i, key) {
                if (add_key(ks, key, err) < 0) {
                        api_jwks_unref(ks);
                        return NULL;
                }
        }
        if (ks->n == 0) {
                api_jwks_unref(ks);
                return hd_error_set(err, HD_E_INVALID, "the JWKS has no RS256 or ES256 signing key with a kid"),
                       NULL;
        }
        return ks;
}

api_jwks *api_jwks_ref(api_jwks *ks)
{
        if (ks)
                atomic_fetch_add(&ks->refs, 1);
        return ks;
}

void api_jwks_unref(api_jwks *ks)
{
        if (!ks || atomic_fetch_sub(&ks->refs, 1) != 1)
                return;
        for (size_t i = 0; i < ks->n; i++)
                EVP_PKEY_free(ks->keys[i].pkey);
        free(ks);
}

size_t api_jwks_count(const api_jwks *ks)
{
        return ks ? ks->n : 0;
}

static const jwk *find(const api_jwks *ks, const char *kid)
{
        for (size_t i = 0; ks && i < ks->n; i++)
                if (strcmp(ks->keys[i].kid, kid) == 0)
                        return &ks->keys[i];
        return NULL;
}

bool api_jwks_has(const api_jwks *ks, const char *kid)
{
        return find(ks, kid) != NULL;
}

/* JOSE writes an ES256 signature as r || s (32 bytes each); OpenSSL wants
 * the DER ECDSA-Sig-Value. */
static unsigned char *es256_to_der(const unsigned char *raw, size_t len, size_t *der_len)
{
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        BIGNUM *r, *s;
        unsigned char *der = NULL;
        int n;

        if (len != 2 * P256_BYTES)
                return NULL;
        r = BN_bin2bn(raw, P256_BYTES, NULL);
        s = BN_bin2bn(raw + P256_BYTES, P256_BYTES, NULL);
        sig = ECDSA_SIG_new();
        if (!r || !s || !sig || !ECDSA_SIG_set0(sig, r, s)) {
                BN_free(r);
                BN_free(s);
                return NULL;
        }
        n = i2d_ECDSA_SIG(sig, &der);
        if (n <= 0)
                return NULL;
        *der_len = (size_t)n;
        return der;
}

int api_jwks_verify(const api_jwks *ks, const api_jwt *jwt, hd_error *err)
{
        const jwk *k = find(ks, jwt->kid);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        unsigned char *der = NULL;
        const unsigned char *sig = jwt->sig;
        size_t sig_len = jwt->sig_len;
        int ok;

        if (!k)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's kid %s is not among the IdP's keys",
                                    jwt->kid);
        if (k->alg != jwt->alg)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "key %s is a %s key; the token says %s", k->kid,
                                    api_jwt_alg_name(k->alg), api_jwt_alg_name(jwt->alg));
        if (jwt->alg == API_JWT_RS256 && sig_len != (size_t)EVP_PKEY_get_size(k->pkey))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's signature does not verify (wrong length)");
        if (jwt->alg == API_JWT_ES256) {
                der = es256_to_der(jwt->sig, jwt->sig_len, &sig_len);
                if (!der)
                        return hd_error_set(err, HD_E_UNAUTHENTICATED,
                                            "the token's signature does not verify (ES256 wants 64 bytes r||s)");
                sig = der;
        }
        md = EVP_MD_CTX_new();
        ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt->signed_part, jwt->signed_len) == 1;
        OPENSSL_free(der);
        ERR_clear_error();
        if (!ok)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's signature does not verify");
        return 0;
}

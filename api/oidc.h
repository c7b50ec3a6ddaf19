/* oidc.h — what the OIDC files of api/ share: JWT parsing (jwt.c), JSON Web
 * Key Sets and signature checks (jwks.c), fetching a JWKS over HTTPS
 * (jwks-fetch.c), the claim checks (oidc-verify.c) and the provider that
 * caches the keys (oidc-provider.c). None of it needs libmicrohttpd: tests
 * call it with their own keys, tokens and clock. docs/oidc.md says what is
 * accepted and why. */
#pragma once

#include "api/internal.h"

#include <stdbool.h>
#include <time.h>

#define API_JWT_MAX 16384            /* bytes of a whole token */
#define API_JWKS_MAX (256 * 1024)    /* bytes of a JWKS document */
#define API_JWKS_FETCH_TIMEOUT 5     /* seconds for a whole fetch */
#define API_OIDC_SUB_MAX 122         /* "oidc:" + sub fits api_caller.credential */

/* ---- jwt.c: compact JWS, strictly -------------------------------------- */
typedef enum api_jwt_alg { API_JWT_RS256 = 1, API_JWT_ES256 } api_jwt_alg;

typedef struct api_jwt {
        api_jwt_alg alg;
        char kid[128];
        json_t *header;            /* the decoded header object */
        json_t *claims;            /* the decoded payload object */
        unsigned char *sig;        /* the decoded signature */
        size_t sig_len;
        const char *signed_part;   /* "header.payload", inside the token given */
        size_t signed_len;
} api_jwt;

/* Split and decode a token: exactly three base64url parts (no padding),
 * JSON objects without duplicate keys, alg RS256 or ES256, a kid. Refuses
 * everything else with a message that says what. Clear jwt afterwards. */
int api_jwt_parse(const char *token, api_jwt *jwt, hd_error *err);
void api_jwt_clear(api_jwt *jwt);
/* Canonical base64url without padding; caller frees *out (NUL-terminated). */
int api_base64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len);
const char *api_jwt_alg_name(api_jwt_alg alg);
/* 1 to max printable ASCII characters (spaces allowed or not): what hostd
 * keeps from a token or echoes in a message. */
bool api_printable(const char *s, size_t max, bool spaces);

/* ---- jwks.c: signing keys ---------------------------------------------- */
typedef struct api_jwks api_jwks;

/* Parse a JWKS ({"keys": [...]}): RSA keys (n, e; 2048 bits or more) and EC
 * P-256 keys (x, y) meant for signatures, each with a kid. Keys for
 * encryption, of other types or curves are skipped; a malformed signing key
 * or a kid given twice refuses the whole set. Reference count 1. */
api_jwks *api_jwks_parse(const char *json, size_t len, hd_error *err);
api_jwks *api_jwks_ref(api_jwks *keys);
void api_jwks_unref(api_jwks *keys);
size_t api_jwks_count(const api_jwks *keys);
bool api_jwks_has(const api_jwks *keys, const char *kid);
/* Check jwt's signature with the key of its kid, which must fit its alg. */
int api_jwks_verify(const api_jwks *keys, const api_jwt *jwt, hd_error *err);

/* ---- jwks-fetch.c: GET over HTTPS --------------------------------------- */
/* GET an https:// URL: the peer's certificate verified against ca_file (NULL:
 * the system's store) and the host name, no redirects, status 200 only, at
 * most max bytes, all within timeout_s. *body is NUL-terminated. */
int api_https_get(const char *url, const char *ca_file, unsigned timeout_s, size_t max, char **body,
                  size_t *len, hd_error *err);
/* Whether url is one api_https_get takes (https://, host, port, path). */
int api_https_url_check(const char *url, hd_error *err);

/* ---- oidc-verify.c: the verification core ------------------------------- */
typedef struct api_oidc_policy api_oidc_policy;

/* Who a verified token names. */
typedef struct api_oidc_identity {
        char user[API_NAME_MAX];
        char subject[API_OIDC_SUB_MAX + 1];
        char email[256];           /* "" when the token has none */
        char groups[API_MAX_GROUPS][API_NAME_MAX];
        size_t n_groups;
        unsigned roles;            /* API_ROLE_* from oidc_role_map; member when none */
        long long expires;         /* exp */
} api_oidc_identity;

/* The claim rules of cfg (issuer, audience, claims, role map, email
 * domains), checked and parsed once. */
api_oidc_policy *api_oidc_policy_new(const api_oidc_config *cfg, hd_error *err);
void api_oidc_policy_free(api_oidc_policy *pol);

/* Verify a parsed token's signature with keys, then its claims at time now. */
int api_oidc_verify_jwt(const api_jwt *jwt, const api_jwks *keys, const api_oidc_policy *pol, time_t now,
                        api_oidc_identity *id, hd_error *err);
/* The same from the token's text: what the tests call. */
int api_oidc_verify(const char *token, const api_jwks *keys, const api_oidc_policy *pol, time_t now,
                    api_oidc_identity *id, hd_error *err);

/* ---- oidc-provider.c: the configured IdP and its cached keys ------------ */
typedef struct api_oidc api_oidc;

/* NULL with err when cfg is not usable; a file JWKS is read now, a URL one
 * at the first token (no traffic before a token arrives). */
api_oidc *api_oidc_new(const api_oidc_config *cfg, hd_error *err);
void api_oidc_free(api_oidc *p);
/* Verify token at time now with the cached keys; on an unknown kid the keys
 * are read again, at most once per oidc_jwks_refresh_min, and refreshed
 * anyway when older than oidc_jwks_max_age. Thread-safe. */
int api_oidc_authenticate(api_oidc *p, const char *token, time_t now, api_oidc_identity *id, hd_error *err);
/* How many times the keys were read (file) or fetched (URL), failures included. */
unsigned api_oidc_key_loads(api_oidc *p);
/* server.c: the server's provider, NULL when OIDC is off. */
api_oidc *api_server_oidc(const api_request *req);

/* test-oidc.c — OIDC bearer tokens: keys made here with OpenSSL (RSA 2048,
 * EC P-256), tokens signed here, checked by the verification core with an
 * injected clock (every refusal with its own reason; good RS256 and ES256
 * tokens accepted with groups mapped to roles), the JWKS parser, the
 * provider's key cache (reload on an unknown kid, rate-limited; rotation;
 * expiry of cached keys) and the configuration checks. */
#include "api/oidc.h"
#include "tests/jwt-sign.h"
#include "tests/testlib.h"

#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#define NOW 1700000000LL
#define ISSUER "https://idp.example.com/realms/lab"

static EVP_PKEY *rsa, *ec, *rsa_other;
static char *jwks_text;

/* The claims of a good token at NOW, with changes: key, value (stolen; NULL
 * removes the claim), ..., NULL. */
static char *claims(const char *key, ...)
{
        json_t *c = json_pack("{s:s, s:[s,s], s:s, s:s, s:s, s:b, s:[s,s], s:I, s:I, s:I}", "iss", ISSUER, "aud",
                              "account", "hostd", "sub", "3f1c9a4e-7b1d-4c55-a8c1-0e2d9f6b7a10", "preferred_username",
                              "alice", "email", "alice@example.com", "email_verified", 1, "groups", "/ml-admins",
                              "staff", "exp", NOW + 300, "iat", NOW - 10, "nbf", NOW - 10);
        va_list ap;
        char *text;

        va_start(ap, key);
        for (const char *k = key; k; k = va_arg(ap, const char *)) {
                json_t *v = va_arg(ap, json_t *);
                if (v)
                        json_object_set_new(c, k, v);
                else
                        json_object_del(c, k);
        }
        va_end(ap);
        text = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        return text;
}

static api_oidc_policy *policy(const char *role_map, const char *domains, const char *groups_claim)
{
        api_oidc_config cfg = {
                .issuer = ISSUER,
                .audience = "hostd",
                .jwks_file = "/unused",
                .clock_skew = 60,
                .jwks_refresh_min = 10,
                .jwks_max_age = 3600,
                .role_map = role_map,
                .email_domains = domains,
                .groups_claim = groups_claim,
        };
        hd_error err = {0};
        api_oidc_policy *p = api_oidc_policy_new(&cfg, &err);

        if (!p)
                printf("# policy: %s\n", err.message);
        return p;
}

static api_jwks *keyset(const char *text)
{
        hd_error err = {0};
        api_jwks *ks = api_jwks_parse(text, strlen(text), &err);

        if (!ks)
                printf("# jwks: %s\n", err.message);
        return ks;
}

/* The token is refused, with a 401 whose reason contains why. */
static void refused(const api_jwks *ks, const api_oidc_policy *pol, const char *token, const char *why,
                    const char *what)
{
        api_oidc_identity id;
        hd_error err = {0};
        int r = api_oidc_verify(token, ks, pol, NOW, &id, &err);

        CHECK(r < 0 && err.code == HD_E_UNAUTHENTICATED && id.user[0] == '\0', what);
        CHECK_CONTAINS(err.message, why, "... and says why");
}

static void refused_claims(const api_jwks *ks, const api_oidc_policy *pol, char *claims_text, const char *why,
                           const char *what)
{
        _cleanup_free_ char *text = claims_text;
        _cleanup_free_ char *token = tj_token_kid(rsa, "r1", text);
        refused(ks, pol, token, why, what);
}

static bool accepted(const api_jwks *ks, const api_oidc_policy *pol, const char *token, api_oidc_identity *id)
{
        hd_error err = {0};

        if (api_oidc_verify(token, ks, pol, NOW, id, &err) == 0)
                return true;
        printf("# refused: %s\n", err.message);
        return false;
}

static bool has_group(const api_oidc_identity *id, const char *g)
{
        for (size_t i = 0; i < id->n_groups; i++)
                if (strcmp(id->groups[i], g) == 0)
                        return true;
        return false;
}

static void test_accepted(const api_jwks *ks, const api_oidc_policy *pol)
{
        _cleanup_free_ char *c = claims(NULL), *t = tj_token_kid(rsa, "r1", c);
        _cleanup_free_ char *c2 = claims("groups", json_pack("[s]", "platform"), "preferred_username",
                                         json_string("bob"), "email", json_string("Bob@Example.COM"), NULL);
        _cleanup_free_ char *t2 = tj_token_kid(ec, "e1", c2);
        _cleanup_free_ char *c3 = claims("groups", NULL, "aud", json_string("hostd"), "nbf", NULL, "iat", NULL,
                                         "email_verified", NULL, NULL);
        _cleanup_free_ char *t3 = tj_token_kid(rsa, "r1", c3);
        _cleanup_free_ char *c4 = claims("exp", json_integer(NOW - 50), "nbf", json_integer(NOW + 50), NULL);
        _cleanup_free_ char *t4 = tj_token_kid(ec, "e1", c4);
        api_oidc_identity id;

        if (CHECK(accepted(ks, pol, t, &id), "a good RS256 token is accepted")) {
                CHECK_STR(id.user, "alice", "the user comes from preferred_username");
                CHECK_STR(id.subject, "3f1c9a4e-7b1d-4c55-a8c1-0e2d9f6b7a10", "the subject is kept for the audit log");
                CHECK(id.roles == API_ROLE_ADMIN, "a member of ml-admins is an admin (oidc_role_map)");
                CHECK(has_group(&id, "ml-admins") && has_group(&id, "staff") && id.n_groups == 2,
                      "groups are kept, Keycloak's leading '/' removed");
                CHECK(id.expires == NOW + 300, "the token's expiry is kept");
        }
        if (CHECK(accepted(ks, pol, t2, &id), "a good ES256 token is accepted")) {
                CHECK_STR(id.user, "bob", "the ES256 token's user is bob");
                CHECK(id.roles == API_ROLE_TEMPLATE_ADMIN, "a member of platform is a template-admin");
                CHECK_STR(id.email, "Bob@Example.COM", "an allowed domain matches whatever its case");
        }
        if (CHECK(accepted(ks, pol, t3, &id), "aud as a string, no groups, no nbf/iat/email_verified is accepted"))
                CHECK(id.roles == API_ROLE_MEMBER && id.n_groups == 0, "a user in no mapped group is a member");
        CHECK(accepted(ks, pol, t4, &id), "exp and nbf within the clock skew (60 s) are accepted");
}

static void test_claims_refused(const api_jwks *ks, const api_oidc_policy *pol)
{
        refused_claims(ks, pol, claims("iss", json_string("https://idp.example.com/realms/other"), NULL),
                       "not issued by " ISSUER, "a token of another issuer is refused");
        refused_claims(ks, pol, claims("iss", json_string(ISSUER "/"), NULL), "not issued by",
                       "the issuer must match exactly (a trailing slash differs)");
        refused_claims(ks, pol, claims("aud", json_pack("[s]", "grafana"), NULL), "aud does not name hostd",
                       "a token for another audience is refused");
        refused_claims(ks, pol, claims("aud", NULL, NULL), "aud does not name hostd",
                       "a token without aud is refused");
        refused_claims(ks, pol, claims("exp", json_integer(NOW - 61), NULL), "expired",
                       "an expired token is refused (past the skew)");
        refused_claims(ks, pol, claims("exp", NULL, NULL), "no valid exp", "a token without exp is refused");
        refused_claims(ks, pol, claims("exp", json_string("soon"), NULL), "no valid exp",
                       "an exp that is not a number is refused");
        refused_claims(ks, pol, claims("nbf", json_integer(NOW + 120), NULL), "not valid yet",
                       "a token not yet valid is refused");
        refused_claims(ks, pol, claims("iat", json_integer(NOW + 600), NULL), "issued in the future",
                       "a token issued in the future is refused");
        refused_claims(ks, pol, claims("email", json_string("alice@example.com.evil"), NULL),
                       "email domain example.com.evil is not allowed",
                       "user@example.com.evil is refused for the domain example.com");
        refused_claims(ks, pol, claims("email", json_string("alice@evilexample.com"), NULL),
                       "email domain evilexample.com is not allowed",
                       "user@evilexample.com is refused for the domain example.com");
        refused_claims(ks, pol, claims("email", json_string("alice@sub.example.com"), NULL),
                       "email domain sub.example.com is not allowed", "a subdomain is not the domain");
        refused_claims(ks, pol, claims("email", json_string("alice@evil.com@example.com"), NULL),
                       "email is not an address", "an email with two @ is refused");
        refused_claims(ks, pol, claims("email", NULL, NULL), "no email", "no email with oidc_email_domains set");
        refused_claims(ks, pol, claims("email_verified", json_false(), NULL), "not verified",
                       "an email the IdP has not verified is refused");
        refused_claims(ks, pol, claims("preferred_username", json_string("Alice Smith"), NULL),
                       "'Alice Smith' is not a user name", "a user name hostd cannot use is refused");
        refused_claims(ks, pol, claims("preferred_username", NULL, NULL), "no preferred_username claim",
                       "a token without the user claim is refused");
        refused_claims(ks, pol, claims("preferred_username", json_string("root"), NULL), "root",
                       "the user name root is refused from a token");
        refused_claims(ks, pol, claims("sub", NULL, NULL), "sub is missing", "a token without sub is refused");
        refused_claims(ks, pol, claims("groups", json_integer(3), NULL), "not a list of names",
                       "groups that are not a list are refused");
}

static void test_signature_refused(const api_jwks *ks, const api_oidc_policy *pol)
{
        _cleanup_free_ char *c = claims(NULL), *good = tj_token_kid(rsa, "r1", c);
        _cleanup_free_ char *evil = claims("preferred_username", json_string("mallory"), NULL);
        _cleanup_free_ char *evil_b64 = tj_b64url_str(evil), *tampered = NULL;
        _cleanup_free_ char *pem = tj_public_pem(rsa);
        _cleanup_free_ char *hs = tj_token_hs256(pem, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}", c);
        _cleanup_free_ char *none_in = tj_signing_input("{\"alg\":\"none\",\"kid\":\"r1\"}", c);
        _cleanup_free_ char *none = hd_asprintf("%s.", none_in), *none_sig = hd_asprintf("%s.AAAA", none_in);
        _cleanup_free_ char *other = tj_token_kid(rsa_other, "r1", c), *unknown = tj_token_kid(rsa, "zz", c);
        _cleanup_free_ char *ec_as_rsa = tj_token_kid(ec, "r1", c), *es = NULL;
        _cleanup_free_ char *es_in = tj_signing_input("{\"alg\":\"ES256\",\"kid\":\"e1\"}", c), *es_short = NULL;
        unsigned char sig63[63];
        _cleanup_free_ char *ps256 = tj_token_hs256("x", "{\"alg\":\"PS256\",\"kid\":\"r1\"}", c);
        const char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');

        tampered = hd_asprintf("%.*s.%s%s", (int)(dot1 - good), good, evil_b64, dot2);
        refused(ks, pol, tampered, "signature does not verify",
                "a tampered payload (re-encoded, with the original signature) is refused");
        refused(ks, pol, other, "signature does not verify", "a token signed by another key is refused");
        refused(ks, pol, none, "alg none", "an unsigned token (alg none) is refused");
        refused(ks, pol, none_sig, "alg none", "alg none with a signature is refused too");
        refused(ks, pol, hs, "alg HS256 is not accepted",
                "HS256 with the RSA public key's PEM as the HMAC secret is refused");
        refused(ks, pol, ps256, "alg PS256 is not accepted", "any alg but RS256 and ES256 is refused");
        refused(ks, pol, unknown, "kid zz is not among the IdP's keys", "a kid not in the JWKS is refused");
        refused(ks, pol, ec_as_rsa, "key r1 is a RS256 key; the token says ES256",
                "a key that does not fit the token's alg is refused");
        memset(sig63, 1, sizeof(sig63));
        es = tj_b64url(sig63, sizeof(sig63));
        es_short = hd_asprintf("%s.%s", es_in, es);
        refused(ks, pol, es_short, "ES256 wants 64 bytes", "an ES256 signature of the wrong length is refused");
}

static void test_malformed(const api_jwks *ks, const api_oidc_policy *pol)
{
        _cleanup_free_ char *c = claims(NULL), *good = tj_token_kid(rsa, "r1", c);
        _cleanup_free_ char *four = hd_asprintf("%s.e30", good), *padded = NULL, *dup = NULL, *big = NULL;
        _cleanup_free_ char *dup_claims = hd_asprintf("{\"iss\":\"%s\",%s", ISSUER, c + 1);
        _cleanup_free_ char *nokid = tj_token(rsa, "{\"alg\":\"RS256\"}", c);
        _cleanup_free_ char *badkid = tj_token(rsa, "{\"alg\":\"RS256\",\"kid\":\"a\\nb\"}", c);
        _cleanup_free_ char *crit = tj_token(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"exp\"]}", c);
        _cleanup_free_ char *hdr_b64 = tj_b64url_str("{\"alg\":\"RS256\",\"kid\":\"r1\"}");
        unsigned char *raw = NULL;
        size_t n = 0;

        refused(ks, pol, "abc.def", "exactly three parts", "a token of two parts is refused");
        refused(ks, pol, four, "exactly three parts", "a token of four parts is refused");
        padded = hd_asprintf("%s=.%s", hdr_b64, strchr(good, '.') + 1);
        refused(ks, pol, padded, "not base64url", "base64 padding in a part is refused");
        dup = tj_token_kid(rsa, "r1", dup_claims);
        refused(ks, pol, dup, "not a JSON object", "a payload with a duplicate claim is refused");
        refused(ks, pol, nokid, "no usable kid", "a token without a kid is refused");
        refused(ks, pol, badkid, "no usable kid", "a kid with control characters is refused (never echoed)");
        refused(ks, pol, crit, "crit", "a token with crit extensions is refused");
        big = hd_malloc0(API_JWT_MAX + 10);
        memset(big, 'A', API_JWT_MAX + 5);
        refused(ks, pol, big, "longer than", "an oversized token is refused");
        CHECK(api_base64url_decode("QQ", 2, &raw, &n) == 0 && n == 1 && raw[0] == 'A', "QQ decodes to A");
        free(raw);
        CHECK(api_base64url_decode("QR", 2, &raw, &n) < 0, "non-canonical base64url (stray low bits) is refused");
        CHECK(api_base64url_decode("Q", 1, &raw, &n) < 0, "a base64url text of impossible length is refused");
}

static void test_groups_path(const api_jwks *ks)
{
        _cleanup_free_ char *c = claims("realm_access", json_pack("{s:[s,s]}", "roles", "auditors", "offline"), NULL);
        _cleanup_free_ char *t = tj_token_kid(rsa, "r1", c);
        api_oidc_policy *pol = policy("auditors=auditor, auditors=member", NULL, "realm_access.roles");
        api_oidc_identity id;

        if (CHECK(pol && accepted(ks, pol, t, &id), "groups from a nested claim (realm_access.roles) work"))
                CHECK(id.roles == (API_ROLE_AUDITOR | API_ROLE_MEMBER) && has_group(&id, "auditors"),
                      "one group may map to several roles");
        api_oidc_policy_free(pol);
}

static void jwks_refused(const char *text, const char *why, const char *what)
{
        hd_error err = {0};
        api_jwks *ks = api_jwks_parse(text, strlen(text), &err);

        CHECK(!ks, what);
        CHECK_CONTAINS(err.message, why, "... and says why");
        api_jwks_unref(ks);
}

/* A key's JSON text with one member changed (value stolen; NULL removes it). */
static char *jwk_with(const char *jwk, const char *key, json_t *value)
{
        json_t *j = json_loads(jwk, 0, NULL);
        char *text;

        if (value)
                json_object_set_new(j, key, value);
        else
                json_object_del(j, key);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return text;
}

static void test_jwks(void)
{
        EVP_PKEY *small = EVP_RSA_gen(1024);
        _cleanup_free_ char *r1 = tj_jwk(rsa, "r1"), *e1 = tj_jwk(ec, "e1"), *s = tj_jwk(small, "s");
        _cleanup_free_ char *dup = hd_asprintf("{\"keys\":[%s,%s]}", r1, r1);
        _cleanup_free_ char *weak = hd_asprintf("{\"keys\":[%s]}", s);
        _cleanup_free_ char *enc0 = jwk_with(r1, "use", json_string("enc")), *enc = jwk_with(enc0, "kid", json_string("enc1"));
        _cleanup_free_ char *ops0 = jwk_with(e1, "use", NULL);
        _cleanup_free_ char *ops = jwk_with(ops0, "key_ops", json_pack("[s]", "encrypt"));
        _cleanup_free_ char *ps = jwk_with(enc, "alg", json_string("PS256"));
        _cleanup_free_ char *skipped = hd_asprintf("{\"keys\":[%s,%s,%s,{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"},%s]}",
                                                   enc, ops, ps, r1);
        _cleanup_free_ char *offcurve = hd_strdup(e1), *bad_ec = NULL;
        api_jwks *ks = keyset(skipped);
        char *y = strstr(offcurve, "\"y\":\"") + 5;

        CHECK(ks && api_jwks_count(ks) == 1 && api_jwks_has(ks, "r1") && !api_jwks_has(ks, "h") &&
                      !api_jwks_has(ks, "enc1") && !api_jwks_has(ks, "e1"),
              "HMAC secrets, keys for encryption and keys of other algs are skipped, signing keys kept");
        api_jwks_unref(ks);
        jwks_refused(dup, "kid r1 is given to two signing keys", "a kid given to two keys refuses the set");
        jwks_refused(weak, "2048 to 8192 bits", "an RSA key under 2048 bits is refused");
        y[0] = y[0] == 'A' ? 'B' : 'A';
        bad_ec = hd_asprintf("{\"keys\":[%s]}", offcurve);
        jwks_refused(bad_ec, "key e1", "an EC point that is not on P-256 is refused");
        jwks_refused("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}]}", "no RS256 or ES256",
                     "a JWKS without a usable signing key is refused");
        jwks_refused("{\"keys\":[1]}", "must be an object", "a JWKS entry that is not an object refuses the set");
        jwks_refused("{\"keys\":[] ", "not JSON", "a JWKS that is not JSON is refused");
        jwks_refused("{\"key\":[]}", "no 'keys' array", "a JWKS without keys is refused");
        EVP_PKEY_free(small);
}

static void write_jwks(const char *path, const char *a, const char *b)
{
        _cleanup_free_ char *text = hd_asprintf("{\"keys\":[%s%s%s]}", a, b ? "," : "", b ? b : "");
        hd_error err = {0};

        if (hd_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
                printf("# %s\n", err.message);
}

static int auth(api_oidc *p, const char *token, long long now, hd_error *err)
{
        api_oidc_identity id;
        return api_oidc_authenticate(p, token, (time_t)now, &id, err);
}

/* The provider with a key file and an injected clock. */
static void test_provider(const char *dir)
{
        _cleanup_free_ char *path = hd_path_join(dir, "jwks.json"), *r1 = tj_jwk(rsa, "r1");
        _cleanup_free_ char *r2 = tj_jwk(rsa_other, "r2"), *c = claims(NULL);
        _cleanup_free_ char *t1 = tj_token_kid(rsa, "r1", c), *t2 = tj_token_kid(rsa_other, "r2", c);
        _cleanup_free_ char *c_later = claims("exp", json_integer(NOW + 4000), NULL);
        _cleanup_free_ char *t1_later = tj_token_kid(rsa, "r1", c_later);
        _cleanup_free_ char *t2_later = tj_token_kid(rsa_other, "r2", c_later);
        api_oidc_config cfg = {.issuer = ISSUER, .audience = "hostd", .jwks_file = path, .clock_skew = 60,
                               .jwks_refresh_min = 10, .jwks_max_age = 3600};
        hd_error err = {0};
        api_oidc *p;
        unsigned n;

        write_jwks(path, r1, NULL);
        p = api_oidc_new(&cfg, &err);
        if (!CHECK(p, "a provider with a key file starts"))
                return printf("# %s\n", err.message), (void)0;
        CHECK(api_oidc_key_loads(p) == 0, "keys are loaded at the first token, not before");
        CHECK(auth(p, "not.a.jwt", NOW, &err) < 0 && api_oidc_key_loads(p) == 0,
              "a malformed token never causes a key load");
        CHECK(auth(p, t1, NOW, &err) == 0 && api_oidc_key_loads(p) == 1, "a good token is accepted (one load)");
        CHECK(auth(p, t1, NOW + 5, &err) == 0 && api_oidc_key_loads(p) == 1, "known kids use the cached keys");
        for (int i = 0; i < 50; i++) {
                _cleanup_free_ char *kid = hd_asprintf("random-%d", i), *t = tj_token_kid(rsa, kid, c);
                auth(p, t, NOW + 1 + i / 10, &err);
        }
        n = api_oidc_key_loads(p);
        CHECK(n == 1, "50 unknown kids within oidc_jwks_refresh_min cause no reload");
        CHECK_CONTAINS(err.message, "kid random-49 is not among", "... and each is refused as unknown");
        write_jwks(path, r1, r2);
        CHECK(auth(p, t2, NOW + 10, &err) == 0 && api_oidc_key_loads(p) == 2,
              "key rotation: a token of a new kid is accepted after one reload");
        for (int i = 0; i < 20; i++) {
                _cleanup_free_ char *kid = hd_asprintf("flood-%d", i), *t = tj_token_kid(rsa, kid, c);
                auth(p, t, NOW + 10 + i / 4, &err);
        }
        CHECK(api_oidc_key_loads(p) == 2, "the rate limit holds after a reload too");
        /* The IdP drops r1; once the cache is older than max_age it is reloaded. */
        write_jwks(path, r2, NULL);
        CHECK(auth(p, t1_later, NOW + 3000, &err) == 0, "a key still cached is used until max_age");
        CHECK(auth(p, t1_later, NOW + 3700, &err) < 0 && api_oidc_key_loads(p) == 3,
              "a key the IdP removed stops working once the cache is older than oidc_jwks_max_age");
        CHECK_CONTAINS(err.message, "kid r1 is not among", "... as an unknown kid");
        /* A reload that fails keeps the keys it has, and says so for unknown kids. */
        write_jwks(path, "{\"kty\":\"RSA\"", NULL);
        CHECK(auth(p, t1_later, NOW + 3711, &err) < 0, "an unknown kid with a broken key file is refused");
        CHECK_CONTAINS(err.message, "reloading them failed", "... saying the reload failed");
        CHECK(auth(p, t2_later, NOW + 3712, &err) == 0, "a failed reload keeps the cached keys working");
        api_oidc_free(p);

        err = (hd_error){0};
        CHECK(!api_oidc_new(&cfg, &err), "a provider with a broken key file does not start");
        CHECK_CONTAINS(err.message, "oidc_jwks_file", "... naming oidc_jwks_file");
        unlink(path);
}

static void test_config(void)
{
        /* Each case: one string field of a good configuration changed. */
        static const struct {
                size_t field;
                const char *value, *why, *what;
        } cases[] = {
#define F(f) offsetof(api_oidc_config, f)
                {F(audience), NULL, "oidc_audience", "an issuer without an audience is refused"},
                {F(jwks_file), "/etc/hostd/jwks.json", "one of oidc_jwks_file and oidc_jwks_url",
                 "a key file and a key URL together are refused"},
                {F(jwks_url), "http://idp.example.com/certs", "only https://", "a plain http JWKS URL is refused"},
                {F(jwks_url), "https://user:pw@idp.example.com/certs", "user names and passwords",
                 "a JWKS URL with credentials is refused"},
                {F(jwks_url), "https://idp.example.com/a b", "spaces or control characters",
                 "a JWKS URL with a space is refused"},
                {F(role_map), "ml-admins=root", "'root' is not a role", "a role map naming an unknown role is refused"},
                {F(role_map), "ml-admins", "not group=role", "a role map entry without '=' is refused"},
                {F(email_domains), "example.com, *.evil", "'*.evil' is not a domain name",
                 "a wildcard email domain is refused"},
                {F(issuer), NULL, "oidc_issuer is not", "OIDC keys without oidc_issuer are refused"},
#undef F
        };
        api_oidc_config ok = {.issuer = ISSUER, .audience = "hostd", .jwks_url = "https://idp.example.com/certs",
                              .jwks_refresh_min = 60, .jwks_max_age = 3600};
        hd_error err = {0};

        CHECK(api_oidc_config_check(&ok, &err) == 0, "issuer, audience and an https JWKS URL are a configuration");
        CHECK(api_oidc_config_check(&(api_oidc_config){0}, &err) == 0, "no oidc_issuer: OIDC off, nothing to check");
        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                api_oidc_config c = ok;
                *(const char **)((char *)&c + cases[i].field) = cases[i].value;
                err = (hd_error){0};
                CHECK(api_oidc_config_check(&c, &err) < 0, cases[i].what);
                CHECK_CONTAINS(err.message, cases[i].why, "... and says why");
        }
}

int main(void)
{
        char dir[] = "/tmp/hostd-test-oidc-XXXXXX";
        api_oidc_policy *pol;
        api_jwks *ks;
        _cleanup_free_ char *r1 = NULL, *e1 = NULL;

        rsa = tj_keygen(false);
        ec = tj_keygen(true);
        rsa_other = tj_keygen(false);
        r1 = tj_jwk(rsa, "r1");
        e1 = tj_jwk(ec, "e1");
        jwks_text = hd_asprintf("{\"keys\":[%s,%s]}", r1, e1);
        ks = keyset(jwks_text);
        pol = policy("ml-admins=admin, platform=template-admin", "example.com", NULL);
        if (!CHECK(ks && pol && mkdtemp(dir), "the test's keys, policy and directory are ready"))
                return tl_done();
        test_accepted(ks, pol);
        test_claims_refused(ks, pol);
        test_signature_refused(ks, pol);
        test_malformed(ks, pol);
        test_groups_path(ks);
        test_jwks();
        test_provider(dir);
        test_config();
        rmdir(dir);
        api_jwks_unref(ks);
        api_oidc_policy_free(pol);
        EVP_PKEY_free(rsa);
        EVP_PKEY_free(ec);
        EVP_PKEY_free(rsa_other);
        free(jwks_text);
        return tl_done();
}

/* jwt.c — split and decode a compact JWS (a JWT) strictly: three base64url
 * parts, JSON objects without duplicate keys, sizes capped, and only the two
 * algorithms hostd verifies (RS256, ES256). Signatures are checked in
 * jwks.c, claims in oidc-verify.c. */
#include "api/oidc.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_MAX 2048
#define ALG_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-_"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(char c)
{
        const char *p = c ? strchr(b64url, c) : NULL;
        return p ? (int)(p - b64url) : -1;
}

/* Only the canonical encoding: no padding, no other characters, and the
 * unused low bits of the last character zero (so that one value has one
 * text, and a tampered text cannot decode to the same bytes). */
int api_base64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len)
{
        unsigned char *o;
        unsigned acc = 0;
        size_t n = 0;
        int bits = 0;

        if (len % 4 == 1)
                return -1;
        o = hd_malloc0(len / 4 * 3 + 3);
        for (size_t i = 0; i < len; i++) {
                int v = b64url_value(in[i]);
                if (v < 0) {
                        free(o);
                        return -1;
                }
                acc = (acc << 6) | (unsigned)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        o[n++] = (unsigned char)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (acc != 0) {
                free(o);
                return -1;
        }
        o[n] = '\0';
        *out = o;
        *out_len = n;
        return 0;
}

static json_t *decode_object(const char *part, size_t len, size_t max, const char *what, hd_error *err)
{
        _cleanup_free_ unsigned char *raw = NULL;
        json_error_t jerr;
        json_t *obj;
        size_t n = 0;

        if (len == 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's %s is empty", what), NULL;
        if (len > max / 3 * 4 + 4)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's %s is larger than %zu bytes", what,
                                    max), NULL;
        if (api_base64url_decode(part, len, &raw, &n) < 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's %s is not base64url (unpadded)",
                                    what), NULL;
        obj = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj || !json_is_object(obj)) {
                json_decref(obj);
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's %s is not a JSON object", what),
                       NULL;
        }
        return obj;
}

bool api_printable(const char *s, size_t max, bool spaces)
{
        size_t n = 0;

        for (; s[n]; n++)
                if (n >= max || s[n] < (spaces ? 0x20 : 0x21) || s[n] > 0x7e)
                        return false;
        return n > 0;
}

const char *api_jwt_alg_name(api_jwt_alg alg)
{
        return alg == API_JWT_RS256 ? "RS256" : alg == API_JWT_ES256 ? "ES256" : "?";
}

/* The header: alg (RS256/ES256), kid; typ JWT or an access token's; no
 * crit (hostd understands no extension). jku, x5u, jwk are never used: keys
 * come only from the configured JWKS. */
static int check_header(api_jwt *jwt, hd_error *err)
{
        json_t *alg = json_object_get(jwt->header, "alg");
        json_t *kid = json_object_get(jwt->header, "kid");
        json_t *typ = json_object_get(jwt->header, "typ");
        const char *a;

        if (!json_is_string(alg))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's header has no alg");
        a = json_string_value(alg);
        if (strcmp(a, "RS256") == 0)
                jwt->alg = API_JWT_RS256;
        else if (strcmp(a, "ES256") == 0)
                jwt->alg = API_JWT_ES256;
        else if (strcasecmp(a, "none") == 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "unsigned tokens (alg none) are refused");
        else
                return hd_error_set(err, HD_E_UNAUTHENTICATED,
                                    "alg %s is not accepted: tokens must be signed with RS256 or ES256",
                                    strlen(a) <= 16 && strspn(a, ALG_CHARS) == strlen(a) ? a : "(unreadable)");
        if (typ && (!json_is_string(typ) || (strcasecmp(json_string_value(typ), "JWT") != 0 &&
                                             strcasecmp(json_string_value(typ), "at+jwt") != 0 &&
                                             strcasecmp(json_string_value(typ), "application/at+jwt") != 0)))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's typ is not JWT");
        if (json_object_get(jwt->header, "crit"))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's header has crit extensions, which "
                                                               "hostd does not understand");
        if (!json_is_string(kid) || !api_printable(json_string_value(kid), sizeof(jwt->kid) - 1, false))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's header has no usable kid (key id: 1 to "
                                                               "127 printable characters)");
        snprintf(jwt->kid, sizeof(jwt->kid), "%s", json_string_value(kid));
        return 0;
}

int api_jwt_parse(const char *token, api_jwt *jwt, hd_error *err)
{
        size_t len = strnlen(token, API_JWT_MAX + 1);
        const char *dot1, *dot2, *sig;

        memset(jwt, 0, sizeof(*jwt));
        if (len > API_JWT_MAX)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token is longer than %d bytes", API_JWT_MAX);
        dot1 = memchr(token, '.', len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
        if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "a JWT has exactly three parts separated by '.'");
        sig = dot2 + 1;
        jwt->header = decode_object(token, (size_t)(dot1 - token), HEADER_MAX, "header", err);
        if (!jwt->header || check_header(jwt, err) < 0)
                goto fail;
        jwt->claims = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), API_JWT_MAX, "payload", err);
        if (!jwt->claims)
                goto fail;
        if (!*sig || api_base64url_decode(sig, strlen(sig), &jwt->sig, &jwt->sig_len) < 0 || jwt->sig_len == 0) {
                hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's signature is missing or not base64url");
                goto fail;
        }
        jwt->signed_part = token;
        jwt->signed_len = (size_t)(dot2 - token);
        return 0;
fail:
        api_jwt_clear(jwt);
        return -1;
}

void api_jwt_clear(api_jwt *jwt)
{
        json_decref(jwt->header);
        json_decref(jwt->claims);
        free(jwt->sig);
        memset(jwt, 0, sizeof(*jwt));
}

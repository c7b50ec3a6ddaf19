/* audit-redact.c — what of a request body the audit log may keep: secrets
 * out, SSH public keys shortened to their fingerprint, long values to their
 * length and hash, deep or large structures cut (docs/audit.md, "diff").
 *
 * A value is a secret when its field's name says so (token, secret,
 * password, passphrase, private, credential, authorization, cookie, api key,
 * or a name whose last word is key/keys) or when it looks like one wherever
 * it is (an hostd API token "hdt_…", a JWT, a PEM private key, or the
 * request's own bearer token). A value that is an SSH public key is not a
 * secret, even under a "key" name: it becomes "TYPE SHA256:FP COMMENT", as
 * ssh-keygen -l prints it. */
#include "api/audit.h"

#include <ctype.h>
#include <string.h>

#define STRING_MAX 512   /* longer strings become "[N bytes, sha256:…]" */
#define DEPTH_MAX 8
#define ITEMS_MAX 64     /* members or items kept of one object or array */

static const char redacted[] = "[redacted]";

json_t *api_audit_text(const char *s)
{
        json_t *j;
        char *copy;

        if (!s)
                return json_null();
        if ((j = json_string(s)))
                return j;
        copy = hd_strdup(s);
        for (char *p = copy; *p; p++)
                if ((unsigned char)*p >= 0x80)
                        *p = '?';
        j = json_string(copy);
        free(copy);
        return j;
}

static bool secret_name(const char *name)
{
        static const char *const words[] = {"token", "secret", "passw", "passphrase", "private", "credential",
                                            "authorization", "cookie", "api_key", "apikey"};
        char lower[128];
        const char *last;
        size_t i;

        for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
                lower[i] = (char)tolower((unsigned char)name[i]);
        lower[i] = '\0';
        for (i = 0; i < HD_ARRAY_SIZE(words); i++)
                if (strstr(lower, words[i]))
                        return true;
        last = lower + strlen(lower);
        while (last > lower && !strchr("_-. ", last[-1]))
                last--;
        return strcmp(last, "key") == 0 || strcmp(last, "keys") == 0;
}

static bool looks_secret(const char *s, const char *bearer)
{
        const char *dot;

        if (strncmp(s, "hdt_", 4) == 0)
                return true;
        if (strncmp(s, "eyJ", 3) == 0 && (dot = strchr(s, '.')) && strchr(dot + 1, '.'))
                return true;
        if (strstr(s, "PRIVATE KEY") && strstr(s, "-----BEGIN"))
                return true;
        return bearer && strlen(bearer) >= 8 && strstr(s, bearer);
}

/* ---- SSH public keys ---------------------------------------------------------------- */

static int b64_value(int c)
{
        static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = c ? strchr(digits, c) : NULL;

        return p ? (int)(p - digits) : -1;
}

/* Decode standard base64 (padding optional); -1 on anything else. */
static int b64_decode(const char *s, size_t len, unsigned char *out, size_t max, size_t *n)
{
        unsigned acc = 0;
        int bits = 0;

        *n = 0;
        while (len && s[len - 1] == '=')
                len--;
        for (size_t i = 0; i < len; i++) {
                int v = b64_value((unsigned char)s[i]);

                if (v < 0)
                        return -1;
                acc = (acc << 6) | (unsigned)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (*n == max)
                                return -1;
                        out[(*n)++] = (unsigned char)(acc >> bits);
                }
        }
        return 0;
}

static void b64_encode_unpadded(const unsigned char *in, size_t len, char *out)
{
        static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        unsigned acc = 0;
        int bits = 0;

        for (size_t i = 0; i < len; i++) {
                acc = (acc << 8) | in[i];
                bits += 8;
                while (bits >= 6) {
                        bits -= 6;
                        *out++ = digits[(acc >> bits) & 63];
                }
        }
        if (bits)
                *out++ = digits[(acc << (6 - bits)) & 63];
        *out = '\0';
}

/* "ssh-ed25519 AAAA… comment" -> "ssh-ed25519 SHA256:… comment"; NULL when
 * s is not an SSH public key line. */
static char *ssh_fingerprint(const char *s, const char *bearer)
{
        static const char *const types[] = {"ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256",
                                            "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                            "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"};
        unsigned char blob[8192], md[32];
        size_t tlen = strcspn(s, " \t"), blen, n;
        const char *b64, *comment;
        char fp[48];
        api_sha256 c;
        bool known = false;

        for (size_t i = 0; i < HD_ARRAY_SIZE(types); i++)
                known |= strlen(types[i]) == tlen && strncmp(s, types[i], tlen) == 0;
        if (!known || !s[tlen])
                return NULL;
        b64 = s + tlen + strspn(s + tlen, " \t");
        blen = strcspn(b64, " \t");
        if (b64_decode(b64, blen, blob, sizeof(blob), &n) < 0 || n < 4 + tlen ||
            ((size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3]) != tlen ||
            memcmp(blob + 4, s, tlen) != 0)
                return NULL;
        api_sha256_init(&c);
        api_sha256_update(&c, blob, n);
        api_sha256_final(&c, md);
        b64_encode_unpadded(md, sizeof(md), fp);
        comment = b64 + blen + strspn(b64 + blen, " \t");
        if (looks_secret(comment, bearer) || strlen(comment) > 128)
                comment = "";
        return hd_asprintf("%.*s SHA256:%s%s%s", (int)tlen, s, fp, *comment ? " " : "", comment);
}

/* ---- the walk ------------------------------------------------------------------------- */

static json_t *redact_string(const char *s, size_t len, bool secret, const char *bearer)
{
        _cleanup_free_ char *fp = ssh_fingerprint(s, bearer);
        char hash[API_AUDIT_HASH_LEN + 1];

        if (fp)
                return api_audit_text(fp);
        if (secret || looks_secret(s, bearer))
                return json_string(redacted);
        if (len > STRING_MAX) {
                api_sha256_hex(s, len, hash);
                return json_sprintf("[%zu bytes, sha256:%s]", len, hash);
        }
        return json_stringn(s, len);
}

static json_t *walk(const json_t *v, bool secret, const char *bearer, int depth)
{
        json_t *out, *item;
        const char *key;
        size_t i, n = 0;

        if (depth > DEPTH_MAX)
                return json_string("[deeper than 8 levels: left out]");
        switch (json_typeof(v)) {
        case JSON_STRING:
                return redact_string(json_string_value(v), json_string_length(v), secret, bearer);
        case JSON_ARRAY:
                out = json_array();
                json_array_foreach(v, i, item) {
                        if (i == ITEMS_MAX) {
                                json_array_append_new(out, json_sprintf("[%zu more items left out]",
                                                                        json_array_size(v) - i));
                                break;
                        }
                        json_array_append_new(out, walk(item, secret, bearer, depth + 1));
                }
                return out;
        case JSON_OBJECT:
                out = json_object();
                json_object_foreach((json_t *)v, key, item) {
                        if (n++ == ITEMS_MAX) {
                                json_object_set_new(out, "[left out]", json_sprintf("%zu more members",
                                                                                    json_object_size(v) - ITEMS_MAX));
                                break;
                        }
                        if (looks_secret(key, bearer)) {
                                json_object_set_new(out, redacted, json_string(redacted));
                                continue;
                        }
                        json_object_set_new(out, key, walk(item, secret || secret_name(key), bearer, depth + 1));
                }
                return out;
        case JSON_NULL:
                return json_null();
        default:
                /* A number or a boolean under a secret's name (a PIN) is a secret too. */
                return secret ? json_string(redacted) : json_deep_copy(v);
        }
}

json_t *api_audit_redact(const json_t *body, const char *bearer)
{
        return body ? walk(body, false, bearer, 0) : json_null();
}

json_t *api_audit_redact_string(const char *s, const char *bearer)
{
        return s ? redact_string(s, strlen(s), false, bearer) : json_null();
}

/* sshkey.c — validation of one OpenSSH public key line ("type base64 [comment]").
 *
 * The body is decoded (strict base64, our own decoder: no library needed) and
 * parsed as the SSH wire format of RFC 4253/5656/8709: a length-prefixed
 * type string equal to the line's type, then that type's fields, and
 * nothing after them. So a truncated paste, a key of another type, or
 * arbitrary base64 is refused before it reaches a guest. */
#include "cloudinit/internal.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum key_fields { F_ED25519, F_SK_ED25519, F_RSA, F_ECDSA, F_SK_ECDSA };

static const struct key_type {
        const char *name;
        enum key_fields fields;
        const char *curve; /* ecdsa: the curve name inside the blob */
        size_t point_len;  /* ecdsa: uncompressed point size */
} key_types[] = {
        {"ssh-ed25519", F_ED25519, NULL, 0},
        {"ssh-rsa", F_RSA, NULL, 0},
        {"ecdsa-sha2-nistp256", F_ECDSA, "nistp256", 65},
        {"ecdsa-sha2-nistp384", F_ECDSA, "nistp384", 97},
        {"ecdsa-sha2-nistp521", F_ECDSA, "nistp521", 133},
        {"sk-ssh-ed25519@openssh.com", F_SK_ED25519, NULL, 0},
        {"sk-ecdsa-sha2-nistp256@openssh.com", F_SK_ECDSA, "nistp256", 65},
};

#define SUPPORTED "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, " \
                  "ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, "             \
                  "sk-ecdsa-sha2-nistp256@openssh.com"

#define RSA_MIN_BITS 1024 /* OpenSSH's RequiredRSASize default: sshd refuses smaller */

static int b64_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* Strict base64 (padded, no whitespace). Returns the decoded length, or -1
 * with *bad set to the 0-based index of the first offending character (or
 * to len when the length is wrong). out must hold len / 4 * 3 bytes. */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t *bad)
{
        size_t o = 0;

        if (len == 0 || len % 4 != 0) {
                *bad = len;
                return -1;
        }
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                int pad = 0;
                for (int k = 0; k < 4; k++) {
                        unsigned char c = (unsigned char)in[i + k];
                        bool last_quad = i + 4 == len;
                        if (c == '=' && last_quad && k >= 2 && (k == 3 || in[i + 3] == '=')) {
                                v[k] = 0;
                                pad++;
                                continue;
                        }
                        v[k] = pad ? -1 : b64_value(c);
                        if (v[k] < 0) {
                                *bad = i + (size_t)k;
                                return -1;
                        }
                }
                out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
                if (pad < 2)
                        out[o++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
                if (pad < 1)
                        out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
        }
        return (long)o;
}

/* A cursor over the decoded blob. */
typedef struct blob {
        const unsigned char *p;
        size_t left;
} blob;

/* Read one SSH string (uint32 big-endian length, then that many bytes). */
static bool read_string(blob *b, const unsigned char **s, size_t *len)
{
        uint32_t n;

        if (b->left < 4)
                return false;
        n = (uint32_t)b->p[0] << 24 | (uint32_t)b->p[1] << 16 | (uint32_t)b->p[2] << 8 | b->p[3];
        if (n > b->left - 4)
                return false;
        *s = b->p + 4;
        *len = n;
        b->p += 4 + (size_t)n;
        b->left -= 4 + (size_t)n;
        return true;
}

static bool string_is(const unsigned char *s, size_t len, const char *want)
{
        return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* Significant bits of an SSH mpint (big-endian, positive). */
static size_t mpint_bits(const unsigned char *s, size_t len)
{
        size_t bits;

        while (len > 0 && *s == 0) {
                s++;
                len--;
        }
        if (len == 0)
                return 0;
        bits = len * 8;
        for (unsigned char top = *s; !(top & 0x80); top <<= 1)
                bits--;
        return bits;
}

/* The fields after the type string; on error a message without the prefix. */
static int check_fields(const struct key_type *t, blob *b, hd_error *err)
{
        const unsigned char *s;
        size_t len, bits;

        switch (t->fields) {
        case F_ED25519:
        case F_SK_ED25519:
                if (!read_string(b, &s, &len))
                        return hd_error_set(err, HD_E_INVALID, "the public key is missing");
                if (len != 32)
                        return hd_error_set(err, HD_E_INVALID,
                                            "the public key is %zu bytes; ed25519 keys are 32",
                                            len);
                break;
        case F_RSA:
                if (!read_string(b, &s, &len) || len == 0)
                        return hd_error_set(err, HD_E_INVALID, "the exponent is missing");
                if (!read_string(b, &s, &len) || len == 0)
                        return hd_error_set(err, HD_E_INVALID, "the modulus is missing");
                bits = mpint_bits(s, len);
                if (bits < RSA_MIN_BITS)
                        return hd_error_set(err, HD_E_INVALID,
                                            "the RSA key has %zu bits; sshd refuses keys under "
                                            "%d bits", bits, RSA_MIN_BITS);
                break;
        case F_ECDSA:
        case F_SK_ECDSA:
                if (!read_string(b, &s, &len) || !string_is(s, len, t->curve))
                        return hd_error_set(err, HD_E_INVALID,
                                            "the curve name is missing or is not %s", t->curve);
                if (!read_string(b, &s, &len) || len != t->point_len || s[0] != 0x04)
                        return hd_error_set(err, HD_E_INVALID,
                                            "the public point is not an uncompressed %s point",
                                            t->curve);
                break;
        }
        if (t->fields == F_SK_ED25519 || t->fields == F_SK_ECDSA)
                if (!read_string(b, &s, &len) || len == 0)
                        return hd_error_set(err, HD_E_INVALID,
                                            "the security key application is missing");
        if (b->left != 0)
                return hd_error_set(err, HD_E_INVALID, "%zu bytes follow the key's fields",
                                    b->left);
        return 0;
}

/* Name a decoded type string for a message when it is short printable ASCII. */
static void describe_type(const unsigned char *s, size_t len, char *out, size_t size)
{
        if (len == 0 || len > 40) {
                snprintf(out, size, "an unknown type");
                return;
        }
        for (size_t i = 0; i < len; i++)
                if (s[i] < 0x21 || s[i] > 0x7e) {
                        snprintf(out, size, "an unknown type");
                        return;
                }
        snprintf(out, size, "a \"%.*s\" key", (int)len, (const char *)s);
}

int ci_ssh_key_valid(const char *key, hd_error *err)
{
        const struct key_type *t = NULL;
        const char *body;
        _cleanup_free_ unsigned char *raw = NULL;
        size_t type_len, body_len, bad = 0;
        long raw_len;
        blob b;
        const unsigned char *s;
        size_t slen;
        char d[16], what[64];

        if (!key || !*key)
                return hd_error_set(err, HD_E_INVALID, "SSH key is empty");
        for (size_t i = 0; key[i]; i++) {
                unsigned char c = (unsigned char)key[i];
                if (c == '\n' || c == '\r')
                        return hd_error_set(err, HD_E_INVALID,
                                            "SSH key has a line break at byte %zu; give one key "
                                            "per string, on one line", i + 1);
                if (c < 0x20 || c == 0x7f)
                        return hd_error_set(err, HD_E_INVALID,
                                            "SSH key has a control character (%s) at byte %zu",
                                            ci_describe_byte(c, d), i + 1);
                if (c > 0x7f)
                        return hd_error_set(err, HD_E_INVALID,
                                            "SSH key has a non-ASCII byte (0x%02x) at byte %zu; "
                                            "the key and its comment must be printable ASCII",
                                            c, i + 1);
        }
        if (key[0] == ' ')
                return hd_error_set(err, HD_E_INVALID, "SSH key starts with a space");

        /* From here on every byte is printable ASCII, so parts may be quoted. */
        type_len = strcspn(key, " ");
        for (size_t i = 0; i < HD_ARRAY_SIZE(key_types); i++)
                if (strlen(key_types[i].name) == type_len &&
                    memcmp(key, key_types[i].name, type_len) == 0)
                        t = &key_types[i];
        if (!t)
                return hd_error_set(err, HD_E_INVALID,
                                    "SSH key type \"%.*s\" is not supported (an authorized_keys "
                                    "option or a private key is not a public key); supported "
                                    "types: " SUPPORTED,
                                    (int)(type_len > 40 ? 40 : type_len), key);
        body = key + type_len;
        body += strspn(body, " ");
        body_len = strcspn(body, " ");
        if (body_len == 0)
                return hd_error_set(err, HD_E_INVALID,
                                    "SSH key has no base64 body after its type; expected "
                                    "\"%s AAAA... [comment]\"", t->name);

        raw = hd_malloc0(body_len / 4 * 3 + 3);
        raw_len = b64_decode(body, body_len, raw, &bad);
        if (raw_len < 0) {
                if (bad == body_len)
                        return hd_error_set(err, HD_E_INVALID,
                                            "SSH key body is not valid base64: its length %zu is "
                                            "not a multiple of 4 (truncated?)", body_len);
                return hd_error_set(err, HD_E_INVALID,
                                    "SSH key body is not valid base64: %s at character %zu "
                                    "of the body",
                                    ci_describe_byte((unsigned char)body[bad], d), bad + 1);
        }
        b = (blob){raw, (size_t)raw_len};
        if (!read_string(&b, &s, &slen))
                return hd_error_set(err, HD_E_INVALID,
                                    "SSH key body does not start with a key type: it is not an "
                                    "SSH public key");
        if (!string_is(s, slen, t->name)) {
                describe_type(s, slen, what, sizeof(what));
                return hd_error_set(err, HD_E_INVALID,
                                    "SSH key body is %s but the line says \"%s\"", what,
                                    t->name);
        }
        if (check_fields(t, &b, err) < 0)
                return hd_error_prefix(err, "SSH key body (%s) is malformed", t->name);
        /* What follows is the comment: printable ASCII, checked above. */
        return 0;
}

/* api-tokens.c — the backend-neutral half of users' API tokens (users.h):
 * making one (the secret leaves only to the caller), checking one presented
 * by a client, listing and revoking, and the bootstrap admin token of a
 * first start. The cryptography is in token.c. */
#include "orchestrator/store-backend.h"

#include "common/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void orch_api_token_clear(orch_api_token *t)
{
        if (!t)
                return;
        free(t->id);
        free(t->name);
        free(t->owner);
        free(t->created_by);
        free(t->workspace);
        memset(t, 0, sizeof(*t));
}

void orch_api_token_free(orch_api_token *t)
{
        orch_api_token_clear(t);
        free(t);
}

void orch_api_token_list_free(orch_api_token_list *l)
{
        for (size_t i = 0; l && i < l->count; i++)
                orch_api_token_clear(&l->items[i]);
        if (l) {
                free(l->items);
                l->items = NULL;
                l->count = 0;
        }
}

static int new_token_id(char out[ORCH_TOKEN_ID_LEN + 1], hd_error *err)
{
        unsigned char raw[8];

        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return hd_error_set(err, HD_E_INTERNAL, "cannot make a token id: the system's random generator failed");
        memcpy(out, "tok-", 4);
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(out + 4 + 2 * i, 3, "%02x", raw[i]);
        return 0;
}

static bool token_id_valid(const char *s)
{
        return s && strlen(s) == ORCH_TOKEN_ID_LEN && strncmp(s, "tok-", 4) == 0 &&
               strspn(s + 4, "0123456789abcdef") == ORCH_TOKEN_ID_LEN - 4;
}

static int check_spec(const orch_api_token_spec *spec, int64_t now, hd_error *err)
{
        size_t len = spec->name ? strlen(spec->name) : 0;

        if (len < 1 || len > ORCH_TOKEN_NAME_MAX)
                return hd_error_set(err, HD_E_INVALID, "a token's name is 1 to %d characters", ORCH_TOKEN_NAME_MAX);
        for (const unsigned char *c = (const unsigned char *)spec->name; *c; c++)
                if (*c < ' ' || *c == 0x7f)
                        return hd_error_set(err, HD_E_INVALID, "a token's name must not contain control characters");
        if (!orch_user_name_valid(spec->owner))
                return hd_error_set(err, HD_E_INVALID, "a token's owner must be a user name");
        if (spec->expires_at <= now)
                return hd_error_set(err, HD_E_INVALID, "a token must expire in the future");
        if (spec->workspace && !orch_ws_id_valid(spec->workspace))
                return hd_error_set(err, HD_E_INVALID, "a token's workspace scope must be a workspace id");
        return 0;
}

orch_api_token *orch_api_token_create(orch_store *st, const orch_api_token_spec *spec,
                                      char token[ORCH_TOKEN_LEN + 1], hd_error *err)
{
        int64_t now = (int64_t)time(NULL);
        char id[ORCH_TOKEN_ID_LEN + 1], hash[65];
        orch_api_token row, *out;

        if (check_spec(spec, now, err) < 0 || new_token_id(id, err) < 0 || orch_api_token_generate(token, hash, err) < 0)
                return NULL;
        row = (orch_api_token){
                .id = id,
                .name = (char *)spec->name,
                .owner = (char *)spec->owner,
                .created_by = (char *)spec->created_by,
                .created_at = now,
                .expires_at = spec->expires_at,
                .read_only = spec->read_only,
                .workspace = (char *)spec->workspace,
        };
        if (st->ops->token_insert(st, &row, hash, err) < 0) {
                OPENSSL_cleanse(token, ORCH_TOKEN_LEN + 1);
                return NULL;
        }
        out = orch_store_token_get(st, id, err);
        if (!out)
                OPENSSL_cleanse(token, ORCH_TOKEN_LEN + 1);
        return out;
}

orch_api_token *orch_store_token_get(orch_store *st, const char *id, hd_error *err)
{
        orch_api_token *t;

        if (!token_id_valid(id)) {
                hd_error_set(err, HD_E_NOT_FOUND, "no token '%.64s' (token ids look like tok-0123456789abcdef)",
                             id ? id : "");
                return NULL;
        }
        t = hd_malloc0(sizeof(*t));
        if (st->ops->token_get(st, false, id, t, NULL, err) < 0) {
                orch_api_token_free(t);
                return NULL;
        }
        return t;
}

int orch_store_token_list(orch_store *st, const char *owner, orch_api_token_list *out, hd_error *err)
{
        *out = (orch_api_token_list){0};
        if (st->ops->token_list(st, owner, out, err) < 0) {
                orch_api_token_list_free(out);
                return -1;
        }
        return 0;
}

int orch_store_token_revoke(orch_store *st, const char *id, hd_error *err)
{
        if (!token_id_valid(id))
                return hd_error_set(err, HD_E_NOT_FOUND, "no token '%.64s'", id ? id : "");
        return st->ops->token_revoke(st, id, (int64_t)time(NULL), err);
}

orch_api_token *orch_api_token_check(orch_store *st, const char *token, int64_t now, hd_error *err)
{
        _cleanup_(orch_api_token_freep) orch_api_token *t = NULL;
        char want[65], stored[65] = "";
        hd_error e = {0};

        if (orch_api_token_parse(token, err) < 0)
                return NULL;
        if (!now)
                now = (int64_t)time(NULL);
        orch_api_token_hash(token, want);
        t = hd_malloc0(sizeof(*t));
        if (st->ops->token_get(st, true, want, t, stored, &e) < 0 || !orch_api_token_hash_equal(want, stored)) {
                if (e.code && e.code != HD_E_NOT_FOUND)
                        hd_error_set(err, e.code, "%s", e.message);
                else
                        hd_error_set(err, HD_E_UNAUTHENTICATED,
                                     "unknown token: no token of this host has this value (mistyped, or from "
                                     "another host?)");
                return NULL;
        }
        if (t->revoked_at) {
                hd_error_set(err, HD_E_UNAUTHENTICATED, "token '%s' (%s) was revoked; make a new one", t->name, t->id);
                return NULL;
        }
        if (t->expires_at <= now) {
                hd_error_set(err, HD_E_UNAUTHENTICATED, "token '%s' (%s) has expired; make a new one", t->name,
                             t->id);
                return NULL;
        }
        if (now - t->last_used_at >= ORCH_TOKEN_TOUCH_S && st->ops->token_touch(st, t->id, now, NULL) == 0)
                t->last_used_at = now;
        return steal_ptr(t);
}

/* ---- bootstrap ----------------------------------------------------------------- */

/* User admin, made when missing; refused when it cannot hold an admin token. */
static int bootstrap_user(orch_store *st, hd_error *err)
{
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        char *roles[] = {(char *)"admin"};
        hd_error e = {0};

        u = orch_store_user_get(st, ORCH_BOOTSTRAP_USER, &e);
        if (!u && e.code != HD_E_NOT_FOUND)
                return hd_error_set(err, e.code, "%s", e.message);
        if (!u) {
                orch_user nu = {.name = (char *)ORCH_BOOTSTRAP_USER, .roles = roles, .n_roles = 1,
                                .created_by = (char *)"bootstrap"};
                return orch_store_user_create(st, &nu, err);
        }
        if (u->disabled_at || !orch_user_has_role(u, "admin"))
                return hd_error_set(err, HD_E_CONFLICT,
                                    "no admin token exists, and user '%s' is %s: no bootstrap token made "
                                    "(as root on the unix socket: wsctl token create NAME)",
                                    ORCH_BOOTSTRAP_USER, u->disabled_at ? "disabled" : "not an admin");
        return 0;
}

int orch_api_token_bootstrap(orch_store *st, const char *path, unsigned lifetime_s,
                             orch_bootstrap_result *result, hd_error *err)
{
        _cleanup_(orch_api_token_freep) orch_api_token *t = NULL;
        _cleanup_close_ int fd = -1;
        char token[ORCH_TOKEN_LEN + 1], line[ORCH_TOKEN_LEN + 2];
        int64_t now = (int64_t)time(NULL);
        bool found = false;
        ssize_t n;

        *result = ORCH_BOOTSTRAP_NOT_NEEDED;
        if (st->ops->token_admin_exists(st, now, &found, err) < 0)
                return -1;
        if (found)
                return 0;
        if (lifetime_s == 0)
                return hd_error_set(err, HD_E_INVALID, "the bootstrap token needs a lifetime");
        if (bootstrap_user(st, err) < 0)
                return -1;
        /* The file first: a token nobody can read is not made. */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno == EEXIST) {
                *result = ORCH_BOOTSTRAP_FILE_EXISTS;
                return 0;
        }
        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot create the bootstrap token file %s", path);
        orch_api_token_spec spec = {
                .name = "bootstrap",
                .owner = ORCH_BOOTSTRAP_USER,
                .created_by = "bootstrap",
                .expires_at = now + lifetime_s,
        };
        t = orch_api_token_create(st, &spec, token, err);
        if (!t) {
                unlink(path);
                return -1;
        }
        snprintf(line, sizeof(line), "%s\n", token);
        n = write(fd, line, strlen(line));
        OPENSSL_cleanse(token, sizeof(token));
        OPENSSL_cleanse(line, sizeof(line));
        if (n != (ssize_t)(ORCH_TOKEN_LEN + 1) || fsync(fd) < 0) {
                int e = n < 0 ? errno : EIO;
                unlink(path);
                orch_store_token_revoke(st, t->id, NULL);
                return hd_error_errno(err, HD_E_IO, e, "cannot write the bootstrap token file %s", path);
        }
        *result = ORCH_BOOTSTRAP_CREATED;
        return 0;
}

/* users.h — hostd's users and API tokens, kept in the store (docs/identity.md).
 *
 * A user is a name (the owner of what it creates), an email, groups and
 * roles. Roles are kept as names; which exist and what each allows is the
 * API's business (api/authz.c). An API token belongs to one user and holds
 * no role of its own: whoever checks a token reads its user's roles at that
 * moment, so a token never grants more than its user has now, and a disabled
 * user's tokens stop working at once.
 *
 * A token is "hdt_" and 43 base64url characters (256 random bits from
 * OpenSSL's RAND_bytes), so that secret scanners can recognise one. It is
 * handed out once, when made; the store keeps only its SHA-256, finds a token
 * by that hash and compares it again with CRYPTO_memcmp. Every token expires.
 *
 * Errors as store.h says, and HD_E_UNAUTHENTICATED from orch_api_token_check
 * for a token that is malformed, unknown, revoked or expired. */
#pragma once

#include "orchestrator/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORCH_USER_NAME_MAX 63   /* [a-z0-9_][a-z0-9._@-]*: what X-On-Behalf-Of accepts */
#define ORCH_USER_LIST_MAX 32   /* groups, roles of one user */
#define ORCH_GROUP_NAME_MAX 63  /* [A-Za-z0-9._@/:+-] */
#define ORCH_ROLE_NAME_MAX 31   /* [a-z-] */
#define ORCH_EMAIL_MAX 254
#define ORCH_TOKEN_PREFIX "hdt_"
#define ORCH_TOKEN_LEN 47       /* "hdt_" + 43 base64url characters */
#define ORCH_TOKEN_ID_LEN 20    /* "tok-" + 16 lowercase hex */
#define ORCH_TOKEN_NAME_MAX 64
#define ORCH_TOKEN_TOUCH_S 60   /* last_used_at is written at most this often per token */
#define ORCH_BOOTSTRAP_USER "admin"

typedef struct orch_user {
        char *name;
        char *email;            /* may be NULL */
        char **groups;
        size_t n_groups;
        char **roles;           /* role names, e.g. "member" */
        size_t n_roles;
        int64_t created_at;     /* on create, 0 = now */
        int64_t updated_at;
        int64_t disabled_at;    /* 0: enabled */
        int64_t last_login_at;  /* last OIDC login; 0: never */
        char *created_by;       /* who made the record ("oidc" for a first login); may be NULL */
} orch_user;

typedef struct orch_user_list {
        orch_user *items;
        size_t count;
} orch_user_list;

typedef struct orch_api_token {
        char *id;               /* "tok-" + 16 hex; what lists and revocations name */
        char *name;             /* the owner's label */
        char *owner;            /* the user it acts as */
        char *created_by;       /* who made it (a user-admin may make one for another user) */
        int64_t created_at;
        int64_t expires_at;     /* always set */
        int64_t last_used_at;   /* 0: never used */
        int64_t revoked_at;     /* 0: not revoked */
        bool read_only;         /* scope: GET only */
        char *workspace;        /* scope: this workspace's id only; NULL: none */
} orch_api_token;

typedef struct orch_api_token_list {
        orch_api_token *items;
        size_t count;
} orch_api_token_list;

void orch_user_clear(orch_user *u);
void orch_user_free(orch_user *u);
void orch_user_list_free(orch_user_list *l);
void orch_api_token_clear(orch_api_token *t);
void orch_api_token_free(orch_api_token *t);
void orch_api_token_list_free(orch_api_token_list *l);

/* ---- users ------------------------------------------------------------------ */

bool orch_user_name_valid(const char *name);
/* Whether u holds the role of that name. */
bool orch_user_has_role(const orch_user *u, const char *role);
/* The checks of a new record (name, email, groups, roles), HD_E_INVALID naming the field. */
int orch_user_check(const orch_user *u, hd_error *err);

/* HD_E_CONFLICT when the name is taken. */
int orch_store_user_create(orch_store *st, const orch_user *u, hd_error *err);
orch_user *orch_store_user_get(orch_store *st, const char *name, hd_error *err);
/* By name. */
int orch_store_user_list(orch_store *st, orch_user_list *out, hd_error *err);

typedef struct orch_user_update {
        const char *email;              /* NULL: keep; "": clear */
        bool set_groups;
        const char *const *groups;
        size_t n_groups;
        bool set_roles;
        const char *const *roles;
        size_t n_roles;
        int disabled;                   /* -1: keep, 0: enable, 1: disable (now) */
} orch_user_update;

int orch_store_user_update(orch_store *st, const char *name, const orch_user_update *u, hd_error *err);
/* Remove the record and every token of the user. Workspaces keep their owner. */
int orch_store_user_delete(orch_store *st, const char *name, hd_error *err);

/* A sign-in through the site's identity provider (OIDC), in one
 * transaction: a known user gets the email and groups the provider says now
 * and last_login_at, and keeps its roles and its disabled mark; an unknown
 * one is created with roles_if_new (created_by "oidc"). Returns the record
 * as stored (caller frees; refuse it when disabled_at is set). */
orch_user *orch_store_user_upsert_login(orch_store *st, const char *name, const char *email,
                                        const char *const *groups, size_t n_groups,
                                        const char *const *roles_if_new, size_t n_roles, hd_error *err);

/* ---- API tokens ------------------------------------------------------------- */

/* 256 bits from RAND_bytes as a token, and its SHA-256 (lowercase hex). */
int orch_api_token_generate(char token[ORCH_TOKEN_LEN + 1], char hash[65], hd_error *err);
/* The SHA-256 of a token, lowercase hex. */
void orch_api_token_hash(const char *token, char hash[65]);
/* Constant-time comparison of two hashes (CRYPTO_memcmp). */
bool orch_api_token_hash_equal(const char *a, const char *b);
/* Whether s has the shape of a token; HD_E_UNAUTHENTICATED saying what is wrong. */
int orch_api_token_parse(const char *s, hd_error *err);

typedef struct orch_api_token_spec {
        const char *name;               /* 1-64 printable characters, unique among the owner's live tokens */
        const char *owner;              /* an existing user */
        const char *created_by;
        int64_t expires_at;             /* required, in the future */
        bool read_only;
        const char *workspace;          /* a workspace id, or NULL */
} orch_api_token_spec;

/* Make a token: the row is committed and the token itself written to
 * token (shown once; only its hash is kept). HD_E_NOT_FOUND for an unknown
 * owner, HD_E_CONFLICT for a name the owner uses for a live token. */
orch_api_token *orch_api_token_create(orch_store *st, const orch_api_token_spec *spec,
                                      char token[ORCH_TOKEN_LEN + 1], hd_error *err);
orch_api_token *orch_store_token_get(orch_store *st, const char *id, hd_error *err);
/* owner NULL: every user's. Newest first. */
int orch_store_token_list(orch_store *st, const char *owner, orch_api_token_list *out, hd_error *err);
/* HD_E_CONFLICT when it is revoked already. */
int orch_store_token_revoke(orch_store *st, const char *id, hd_error *err);

/* The token's row when token is live at now (0: the clock), else -1 with
 * HD_E_UNAUTHENTICATED and why: malformed, unknown, revoked, expired.
 * Records the use (last_used_at) when the last record is ORCH_TOKEN_TOUCH_S
 * old or more; a failure to record it is not an error. */
orch_api_token *orch_api_token_check(orch_store *st, const char *token, int64_t now, hd_error *err);

/* ---- bootstrap ---------------------------------------------------------------- */

typedef enum orch_bootstrap_result {
        ORCH_BOOTSTRAP_NOT_NEEDED,  /* a live admin token exists */
        ORCH_BOOTSTRAP_CREATED,     /* a token for user "admin" is in the file */
        ORCH_BOOTSTRAP_FILE_EXISTS, /* none exists, but the file does: left alone */
} orch_bootstrap_result;

/* When no enabled user with role "admin" holds a live token without scopes,
 * make one for user "admin" (created with role admin when missing) that
 * lives lifetime_s, and write it to path, created with O_EXCL and mode 0600
 * (a file that exists is never overwritten). HD_E_CONFLICT when user admin
 * exists but is disabled or not an admin. */
int orch_api_token_bootstrap(orch_store *st, const char *path, unsigned lifetime_s,
                             orch_bootstrap_result *result, hd_error *err);

#include "common/cleanup.h"
HD_DEFINE_CLEANUP(orch_user *, orch_user_free)
HD_DEFINE_CLEANUP(orch_api_token *, orch_api_token_free)

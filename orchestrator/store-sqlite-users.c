/* store-sqlite-users.c — the sqlite backend's users and API tokens (tables
 * users and api_tokens, migration step 5): each operation one transaction
 * under the handle's mutex, as in store-sqlite.c. Groups and roles are kept
 * as space-separated names. */
#include "orchestrator/store-sqlite.h"

#include "common/buf.h"

#include <string.h>

/* ---- name lists ------------------------------------------------------------------ */

static char *join_names(const char *const *v, size_t n)
{
        hd_buf b = HD_BUF_INIT;

        hd_buf_append(&b, "");
        for (size_t i = 0; i < n; i++)
                hd_buf_appendf(&b, "%s%s", i ? " " : "", v[i]);
        return hd_buf_steal(&b);
}

static void split_names(const char *text, char ***out, size_t *n)
{
        *out = NULL;
        *n = 0;
        for (const char *p = text ? text : ""; *p;) {
                size_t len = strcspn(p, " ");
                if (len) {
                        *out = realloc(*out, (*n + 1) * sizeof(char *));
                        if (!*out)
                                abort();
                        (*out)[(*n)++] = hd_asprintf("%.*s", (int)len, p);
                }
                p += len + (p[len] == ' ');
        }
}

/* ---- users ------------------------------------------------------------------------ */

#define USER_COLUMNS \
        "name, email, group_names, role_names, created_at, updated_at, disabled_at, last_login_at, created_by"

static int read_user(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_user *u = item;

        u->name = col_text(stmt, 0);
        u->email = col_text(stmt, 1);
        split_names((const char *)sqlite3_column_text(stmt, 2), &u->groups, &u->n_groups);
        split_names((const char *)sqlite3_column_text(stmt, 3), &u->roles, &u->n_roles);
        u->created_at = sqlite3_column_int64(stmt, 4);
        u->updated_at = sqlite3_column_int64(stmt, 5);
        u->disabled_at = sqlite3_column_int64(stmt, 6);
        u->last_login_at = sqlite3_column_int64(stmt, 7);
        u->created_by = col_text(stmt, 8);
        return 0;
}

static int user_insert(sq_store *s, const orch_user *u, const char *op, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "INSERT INTO users (" USER_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", op, err);
        _cleanup_free_ char *groups = join_names((const char *const *)u->groups, u->n_groups);
        _cleanup_free_ char *roles = join_names((const char *const *)u->roles, u->n_roles);
        int rc;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, u->name);
        bind_text(stmt, 2, u->email);
        bind_text(stmt, 3, groups);
        bind_text(stmt, 4, roles);
        sqlite3_bind_int64(stmt, 5, u->created_at);
        sqlite3_bind_int64(stmt, 6, u->updated_at);
        bind_time(stmt, 7, u->disabled_at);
        bind_time(stmt, 8, u->last_login_at);
        bind_text(stmt, 9, u->created_by);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
                return hd_error_set(err, HD_E_CONFLICT, "a user named %s already exists", u->name);
        return rc == SQLITE_DONE ? 0 : sq_error(s, rc, op, err);
}

int sq_user_insert(orch_store *st, const orch_user *u, hd_error *err)
{
        return SQ_IN_TX(st, "adding a user", err, user_insert(s, u, "adding a user", err));
}

static int user_get(sq_store *s, const char *name, orch_user *out, const char *op, hd_error *err)
{
        int r = query_one(s, "SELECT " USER_COLUMNS " FROM users WHERE name = ?", name, read_user, out, op, err);

        return r == 1 ? hd_error_set(err, HD_E_NOT_FOUND, "no user '%s'", name) : r;
}

int sq_user_get(orch_store *st, const char *name, orch_user *out, hd_error *err)
{
        SQ_LOCKED(st);

        return user_get(s, name, out, "reading a user", err);
}

int sq_user_list(orch_store *st, orch_user_list *out, hd_error *err)
{
        SQ_LOCKED(st);
        _cleanup_stmt_ sqlite3_stmt *stmt =
                sq_prep(s, "SELECT " USER_COLUMNS " FROM users ORDER BY name", "listing users", err);

        if (!stmt)
                return -1;
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items), read_user, "listing users",
                       err);
}

static int user_update_tx(sq_store *s, const char *name, const orch_user_update *u, int64_t now, hd_error *err)
{
        const char *op = "changing a user";
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "UPDATE users SET"
                " email = CASE WHEN ?1 THEN ?2 ELSE email END,"
                " group_names = CASE WHEN ?3 THEN ?4 ELSE group_names END,"
                " role_names = CASE WHEN ?5 THEN ?6 ELSE role_names END,"
                " disabled_at = CASE ?7 WHEN 1 THEN coalesce(disabled_at, ?8) WHEN 0 THEN NULL"
                "   ELSE disabled_at END,"
                " updated_at = ?8"
                " WHERE name = ?9",
                op, err);
        _cleanup_free_ char *groups = u->set_groups ? join_names(u->groups, u->n_groups) : NULL;
        _cleanup_free_ char *roles = u->set_roles ? join_names(u->roles, u->n_roles) : NULL;

        if (!stmt)
                return -1;
        sqlite3_bind_int(stmt, 1, u->email != NULL);
        bind_text(stmt, 2, u->email && *u->email ? u->email : NULL);
        sqlite3_bind_int(stmt, 3, u->set_groups);
        bind_text(stmt, 4, groups);
        sqlite3_bind_int(stmt, 5, u->set_roles);
        bind_text(stmt, 6, roles);
        sqlite3_bind_int(stmt, 7, u->disabled);
        sqlite3_bind_int64(stmt, 8, now);
        bind_text(stmt, 9, name);
        if (sq_done(s, stmt, op, err) < 0)
                return -1;
        return sqlite3_changes(s->db) ? 0 : hd_error_set(err, HD_E_NOT_FOUND, "no user '%s'", name);
}

int sq_user_update(orch_store *st, const char *name, const orch_user_update *u, int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "changing a user", err, user_update_tx(s, name, u, now, err));
}

static int user_delete_tx(sq_store *s, const char *name, hd_error *err)
{
        const char *op = "deleting a user";
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(s, "DELETE FROM users WHERE name = ?", op, err);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, name);
        /* The foreign key's ON DELETE CASCADE removes the user's tokens. */
        if (sq_done(s, stmt, op, err) < 0)
                return -1;
        return sqlite3_changes(s->db) ? 0 : hd_error_set(err, HD_E_NOT_FOUND, "no user '%s'", name);
}

int sq_user_delete(orch_store *st, const char *name, hd_error *err)
{
        return SQ_IN_TX(st, "deleting a user", err, user_delete_tx(s, name, err));
}

static int upsert_login_tx(sq_store *s, const orch_user *login, int64_t now, orch_user *out, hd_error *err)
{
        const char *op = "recording a sign-in";
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "UPDATE users SET email = ?, group_names = ?, last_login_at = ?, updated_at = ? WHERE name = ?", op,
                err);
        _cleanup_free_ char *groups = join_names((const char *const *)login->groups, login->n_groups);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, login->email);
        bind_text(stmt, 2, groups);
        sqlite3_bind_int64(stmt, 3, now);
        sqlite3_bind_int64(stmt, 4, now);
        bind_text(stmt, 5, login->name);
        if (sq_done(s, stmt, op, err) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0) {
                orch_user row = *login;

                row.created_at = row.updated_at = row.last_login_at = now;
                if (user_insert(s, &row, op, err) < 0)
                        return -1;
        }
        return user_get(s, login->name, out, op, err);
}

int sq_user_upsert_login(orch_store *st, const orch_user *login, int64_t now, orch_user *out, hd_error *err)
{
        return SQ_IN_TX(st, "recording a sign-in", err, upsert_login_tx(s, login, now, out, err));
}

/* ---- API tokens --------------------------------------------------------------------- */

#define TOKEN_COLUMNS \
        "id, name, owner, created_by, created_at, expires_at, last_used_at, revoked_at, read_only, workspace, hash"

static int read_token(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_api_token *t = item;

        t->id = col_text(stmt, 0);
        t->name = col_text(stmt, 1);
        t->owner = col_text(stmt, 2);
        t->created_by = col_text(stmt, 3);
        t->created_at = sqlite3_column_int64(stmt, 4);
        t->expires_at = sqlite3_column_int64(stmt, 5);
        t->last_used_at = sqlite3_column_int64(stmt, 6);
        t->revoked_at = sqlite3_column_int64(stmt, 7);
        t->read_only = sqlite3_column_int(stmt, 8) != 0;
        t->workspace = col_text(stmt, 9);
        return 0;
}

/* Whether a query answers a row; it may use ?1 and ?2 (text) and ?3 (a time). */
static int exists(sq_store *s, const char *sql, const char *a, const char *b, int64_t t, bool *found, const char *op,
                  hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(s, sql, op, err);
        int rc;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, a);
        bind_text(stmt, 2, b);
        sqlite3_bind_int64(stmt, 3, t);
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return sq_error(s, rc, op, err);
        *found = rc == SQLITE_ROW;
        return 0;
}

static int token_insert_tx(sq_store *s, const orch_api_token *t, const char *hash, hd_error *err)
{
        const char *op = "adding a token";
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
        bool found = false;

        if (exists(s, "SELECT 1 FROM users WHERE name = ?1", t->owner, NULL, 0,
                   &found, op, err) < 0)
                return -1;
        if (!found)
                return hd_error_set(err, HD_E_NOT_FOUND, "no user '%s' to own the token", t->owner);
        if (exists(s,
                   "SELECT 1 FROM api_tokens WHERE owner = ?1 AND name = ?2 AND revoked_at IS NULL"
                   " AND expires_at > ?3",
                   t->owner, t->name, t->created_at, &found, op, err) < 0)
                return -1;
        if (found)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "%s already has a live token named '%s': pick another name or revoke that one",
                                    t->owner, t->name);
        stmt = sq_prep(s, "INSERT INTO api_tokens (" TOKEN_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", op, err);
        if (!stmt)
                return -1;
        bind_text(stmt, 1, t->id);
        bind_text(stmt, 2, t->name);
        bind_text(stmt, 3, t->owner);
        bind_text(stmt, 4, t->created_by);
        sqlite3_bind_int64(stmt, 5, t->created_at);
        sqlite3_bind_int64(stmt, 6, t->expires_at);
        bind_time(stmt, 7, t->last_used_at);
        bind_time(stmt, 8, t->revoked_at);
        sqlite3_bind_int(stmt, 9, t->read_only);
        bind_text(stmt, 10, t->workspace);
        bind_text(stmt, 11, hash);
        return sq_done(s, stmt, op, err);
}

int sq_token_insert(orch_store *st, const orch_api_token *t, const char *hash, hd_error *err)
{
        return SQ_IN_TX(st, "adding a token", err, token_insert_tx(s, t, hash, err));
}

typedef struct token_and_hash {
        orch_api_token *t;
        char *hash; /* 65 bytes, or NULL */
} token_and_hash;

static int read_token_and_hash(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        token_and_hash *th = item;
        const unsigned char *h = sqlite3_column_text(stmt, 10);

        if (th->hash)
                snprintf(th->hash, 65, "%s", h ? (const char *)h : "");
        return read_token(stmt, th->t, err);
}

int sq_token_get(orch_store *st, bool by_hash, const char *key, orch_api_token *out, char *hash_out,
                        hd_error *err)
{
        SQ_LOCKED(st);
        token_and_hash th = {out, hash_out};
        int r = query_one(s,
                          by_hash ? "SELECT " TOKEN_COLUMNS " FROM api_tokens WHERE hash = ?"
                                  : "SELECT " TOKEN_COLUMNS " FROM api_tokens WHERE id = ?",
                          key, read_token_and_hash, &th, "reading a token", err);

        if (r == 1)
                return by_hash ? hd_error_set(err, HD_E_NOT_FOUND, "no token has this hash")
                               : hd_error_set(err, HD_E_NOT_FOUND, "no token '%s'", key);
        return r;
}

int sq_token_list(orch_store *st, const char *owner, orch_api_token_list *out, hd_error *err)
{
        SQ_LOCKED(st);
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(s,
                                                    "SELECT " TOKEN_COLUMNS " FROM api_tokens"
                                                    " WHERE ?1 IS NULL OR owner = ?1 ORDER BY created_at DESC, id",
                                                    "listing tokens", err);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, owner);
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items), read_token, "listing tokens",
                       err);
}

static int token_revoke_tx(sq_store *s, const char *id, int64_t now, hd_error *err)
{
        const char *op = "revoking a token";
        _cleanup_stmt_ sqlite3_stmt *stmt =
                sq_prep(s, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", op, err);
        bool found = false;

        if (!stmt)
                return -1;
        sqlite3_bind_int64(stmt, 1, now);
        bind_text(stmt, 2, id);
        if (sq_done(s, stmt, op, err) < 0)
                return -1;
        if (sqlite3_changes(s->db))
                return 0;
        if (exists(s, "SELECT 1 FROM api_tokens WHERE id = ?1", id, NULL, 0, &found,
                   op, err) < 0)
                return -1;
        return found ? hd_error_set(err, HD_E_CONFLICT, "token %s is revoked already", id)
                     : hd_error_set(err, HD_E_NOT_FOUND, "no token '%s'", id);
}

int sq_token_revoke(orch_store *st, const char *id, int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "revoking a token", err, token_revoke_tx(s, id, now, err));
}

static int token_touch_tx(sq_store *s, const char *id, int64_t now, hd_error *err)
{
        const char *op = "recording a token's use";
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2 AND coalesce(last_used_at, 0) <= ?1 - ?3",
                op, err);

        if (!stmt)
                return -1;
        sqlite3_bind_int64(stmt, 1, now);
        bind_text(stmt, 2, id);
        sqlite3_bind_int(stmt, 3, ORCH_TOKEN_TOUCH_S);
        return sq_done(s, stmt, op, err);
}

int sq_token_touch(orch_store *st, const char *id, int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "recording a token's use", err, token_touch_tx(s, id, now, err));
}

int sq_token_admin_exists(orch_store *st, int64_t now, bool *found, hd_error *err)
{
        SQ_LOCKED(st);

        return exists(s,
                      "SELECT 1 FROM api_tokens t JOIN users u ON u.name = t.owner"
                      " WHERE t.revoked_at IS NULL AND t.expires_at > ?3"
                      " AND t.read_only = 0 AND t.workspace IS NULL AND u.disabled_at IS NULL"
                      " AND ' ' || u.role_names || ' ' LIKE '% admin %' LIMIT 1",
                      NULL, NULL, now, found, "looking for an admin token", err);
}

/* store-sqlite.c — the embedded sqlite backend of the store: opening and
 * migrating (the steps are in store-sqlite-schema.c), the connection's
 * settings, and each operation as one transaction (users and API tokens:
 * store-sqlite-users.c; quotas and admission: store-sqlite-quota.c).
 *
 * Settings, chosen at every open:
 *   journal_mode=WAL     readers never wait for the writer; a crash leaves
 *                        the last committed state.
 *   synchronous=FULL     each commit is on disk before the call returns. The
 *                        daemon acts (defines a domain, deletes a disk) right
 *                        after a state change and relies on that change
 *                        surviving a power loss too; commits are few (state
 *                        changes, heartbeats), so the fsync each costs is cheap
 *                        (measured 2-7 ms a commit on a VM disk, against
 *                        0.1-0.5 ms with NORMAL).
 *   foreign_keys=ON      an image in use cannot be deleted.
 *   busy_timeout=10 s    writers on other handles or processes are waited for.
 *
 * Threads: one connection per handle, opened SQLITE_OPEN_NOMUTEX, and a
 * mutex held for each whole operation (a transaction is several statements,
 * which sqlite's own per-call mutex would not keep together). Handles that
 * want to write in parallel are separate connections; sqlite serializes
 * their write transactions (BEGIN IMMEDIATE, so none fails half-way). */
#include "orchestrator/store-backend.h"
#include "orchestrator/store-sqlite.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 10000

/* ---- helpers (declared in store-sqlite.h for the other sqlite files) --------- */

int sq_error(sq_store *s, int rc, const char *op, hd_error *err)
{
        return hd_error_set(err, HD_E_STORE, "store: %s: %s%s", op, sqlite3_errmsg(s->db),
                            (rc & 0xff) == SQLITE_BUSY
                                    ? " (another writer held the database for too long)"
                                    : "");
}

/* A foreign key refused. ON DELETE RESTRICT reports itself as a trigger
 * (SQLITE_CONSTRAINT_TRIGGER), the other actions as SQLITE_CONSTRAINT_FOREIGNKEY. */
static bool is_fk_error(sq_store *s, int rc)
{
        return rc == SQLITE_CONSTRAINT_FOREIGNKEY ||
               (rc == SQLITE_CONSTRAINT_TRIGGER && strstr(sqlite3_errmsg(s->db), "FOREIGN KEY"));
}

int sq_exec(sq_store *s, const char *sql, const char *op, hd_error *err)
{
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

        return rc == SQLITE_OK ? 0 : sq_error(s, rc, op, err);
}

sqlite3_stmt *sq_prep(sq_store *s, const char *sql, const char *op, hd_error *err)
{
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);

        if (rc != SQLITE_OK) {
                sq_error(s, rc, op, err);
                return NULL;
        }
        return stmt;
}

void bind_text(sqlite3_stmt *stmt, int i, const char *v)
{
        if (v)
                sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(stmt, i);
}

/* 0 in a struct is NULL in the table. */
void bind_time(sqlite3_stmt *stmt, int i, int64_t v)
{
        if (v)
                sqlite3_bind_int64(stmt, i, v);
        else
                sqlite3_bind_null(stmt, i);
}

char *col_text(sqlite3_stmt *stmt, int i)
{
        const unsigned char *t = sqlite3_column_text(stmt, i);

        return t ? hd_strdup((const char *)t) : NULL;
}

/* Run a statement that returns no row. */
int sq_done(sq_store *s, sqlite3_stmt *stmt, const char *op, hd_error *err)
{
        int rc = sqlite3_step(stmt);

        return rc == SQLITE_DONE ? 0 : sq_error(s, rc, op, err);
}

int tx_begin(sq_store *s, const char *op, hd_error *err)
{
        return sq_exec(s, "BEGIN IMMEDIATE", op, err);
}

/* Commit when r is 0, roll back otherwise; returns r, or -1 if the commit fails. */
int tx_end(sq_store *s, int r, const char *op, hd_error *err)
{
        if (r == 0 && sq_exec(s, "COMMIT", op, err) == 0)
                return 0;
        /* Fails harmlessly when sqlite already rolled back by itself. */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
}

int collect(sq_store *s, sqlite3_stmt *stmt, void **items, size_t *count,
            size_t item_size, row_reader read, const char *op, hd_error *err)
{
        size_t cap = 0;
        int rc;

        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                if (*count == cap) {
                        cap = cap ? 2 * cap : 8;
                        *items = realloc(*items, cap * item_size);
                        if (!*items)
                                abort();
                }
                /* Counted before it is read, so that a half-read row is freed too. */
                memset((char *)*items + *count * item_size, 0, item_size);
                if (read(stmt, (char *)*items + (*count)++ * item_size, err) < 0)
                        return -1;
        }
        return rc == SQLITE_DONE ? 0 : sq_error(s, rc, op, err);
}

int query_one(sq_store *s, const char *sql, const char *key, row_reader read,
              void *item, const char *op, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(s, sql, op, err);
        int rc;

        if (!stmt)
                return -1;
        if (key)
                bind_text(stmt, 1, key);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW)
                return read(stmt, item, err) < 0 ? -1 : 0;
        return rc == SQLITE_DONE ? 1 : sq_error(s, rc, op, err);
}

static int insert_event(sq_store *s, const char *id, int64_t t, const char *kind,
                        const char *from, const char *to, const char *reason,
                        const char *detail, const char *op, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "INSERT INTO events (workspace_id, time, kind, from_state, to_state, reason,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                op, err);
        int rc;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, id);
        sqlite3_bind_int64(stmt, 2, t);
        bind_text(stmt, 3, kind);
        bind_text(stmt, 4, from);
        bind_text(stmt, 5, to);
        bind_text(stmt, 6, reason);
        bind_text(stmt, 7, detail);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_CONSTRAINT_CHECK)
                return hd_error_set(err, HD_E_INVALID,
                                    "workspace %s: an event's detail is not valid JSON", id);
        return rc == SQLITE_DONE ? 0 : sq_error(s, rc, op, err);
}

/* ---- open, migrations, close ------------------------------------------------- */

static int read_int(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        *(int *)item = sqlite3_column_int(stmt, 0);
        return 0;
}

static int read_version(sq_store *s, int *version, hd_error *err)
{
        *version = 0;
        return query_one(s, "PRAGMA user_version", NULL, read_int, version,
                         "reading the schema version", err) < 0 ? -1 : 0;
}

/* One migration step: in its own transaction, re-reading the version inside
 * it, since another handle or process may be migrating the same file.
 * Returns 1 when a step ran, 0 when the schema is current. */
static int migrate_step(sq_store *s, const char *path, hd_error *err)
{
        const int known = (int)orch_sqlite_migration_count;
        _cleanup_free_ char *bump = NULL;
        int v;

        if (read_version(s, &v, err) < 0)
                return -1;
        if (v > known)
                return hd_error_set(err, HD_E_STORE,
                                    "store %s has schema version %d, newer than the %d this "
                                    "hostd knows: run the hostd that wrote it, or restore a "
                                    "backup made for this version",
                                    path, v, known);
        if (v == known)
                return 0;
        bump = hd_asprintf("PRAGMA user_version = %d", v + 1);
        if (sq_exec(s, orch_sqlite_migrations[v], "migrating the schema", err) < 0 ||
            sq_exec(s, bump, "migrating the schema", err) < 0)
                return hd_error_prefix(err, "store %s: step %d", path, v + 1);
        return 1;
}

static int migrate(sq_store *s, const char *path, hd_error *err)
{
        int r;

        do {
                if (tx_begin(s, "migrating the schema", err) < 0)
                        return -1;
                r = migrate_step(s, path, err);
                if (tx_end(s, r < 0 ? -1 : 0, "migrating the schema", err) < 0)
                        return -1;
        } while (r == 1);
        return read_version(s, &s->version, err);
}

/* Switch to WAL. sqlite does not call the busy handler for a journal-mode
 * change, so handles opening a new file together retry here instead (seen
 * when 8 handles opened one new database at once). */
static int set_wal(sq_store *s, hd_error *err)
{
        for (int waited = 0;; waited += 20) {
                _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(s, "PRAGMA journal_mode = WAL", "open", err);
                const unsigned char *got;
                int rc;

                if (!stmt)
                        return -1;
                rc = sqlite3_step(stmt);
                if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
                        if (waited >= BUSY_TIMEOUT_MS)
                                return sq_error(s, rc, "PRAGMA journal_mode = WAL", err);
                        usleep(20 * 1000);
                        continue;
                }
                if (rc != SQLITE_ROW)
                        return sq_error(s, rc, "PRAGMA journal_mode = WAL", err);
                got = sqlite3_column_text(stmt, 0);
                if (!got || strcmp((const char *)got, "wal") != 0)
                        return hd_error_set(err, HD_E_STORE, "store: the database refuses WAL mode (it says '%s')",
                                            got ? (const char *)got : "nothing");
                return 0;
        }
}

/* Run a PRAGMA that answers one row, and check the answer. */
static int pragma_expect(sq_store *s, const char *sql, const char *want, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(s, sql, "open", err);
        const unsigned char *got;
        int rc;

        if (!stmt)
                return -1;
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return sq_error(s, rc, sql, err);
        got = rc == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
        if (!got || strcmp((const char *)got, want) != 0)
                return hd_error_set(err, HD_E_STORE, "store: '%s' gave '%s', not '%s'", sql,
                                    got ? (const char *)got : "nothing", want);
        return 0;
}

static const struct orch_store_ops sq_ops;

static void sq_close(orch_store *st)
{
        sq_store *s = (sq_store *)st;

        sqlite3_close_v2(s->db);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

orch_store *orch_store_sqlite_open(const char *path, hd_error *err)
{
        sq_store *s;
        struct stat st;
        bool created = stat(path, &st) < 0 && errno == ENOENT;
        int rc;

        s = hd_malloc0(sizeof(*s));
        s->base.ops = &sq_ops;
        pthread_mutex_init(&s->lock, NULL);
        rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                hd_error_set(err, HD_E_STORE, "store %s: cannot open: %s", path,
                             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
                goto fail;
        }
        /* sqlite makes files 0644; tokens' hashes are not for other users.
         * Done before the first write, so the -wal and -shm files, which take
         * the database file's mode, are 0600 too. Not fchmod on a file we
         * open ourselves: closing it would drop sqlite's POSIX locks. */
        if (created && chmod(path, 0600) < 0) {
                hd_error_errno(err, HD_E_IO, errno, "store %s: cannot make it mode 0600", path);
                goto fail;
        }
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        if (sq_exec(s, "PRAGMA foreign_keys = ON", "open", err) < 0 ||
            pragma_expect(s, "PRAGMA foreign_keys", "1", err) < 0 ||
            set_wal(s, err) < 0 ||
            sq_exec(s, "PRAGMA synchronous = FULL", "open", err) < 0) {
                hd_error_prefix(err, "store %s", path);
                goto fail;
        }
        if (migrate(s, path, err) < 0)
                goto fail;
        return &s->base;
fail:
        sq_close(&s->base);
        return NULL;
}

static int sq_schema_version(orch_store *st)
{
        return ((sq_store *)st)->version;
}

/* ---- images ------------------------------------------------------------------ */

#define IMAGE_COLUMNS "name, format, sha256, virtual_size, file_size, imported_at"

static int read_image(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_image *img = item;

        img->name = col_text(stmt, 0);
        img->format = col_text(stmt, 1);
        img->sha256 = col_text(stmt, 2);
        img->virtual_size = (uint64_t)sqlite3_column_int64(stmt, 3);
        img->file_size = (uint64_t)sqlite3_column_int64(stmt, 4);
        img->imported_at = sqlite3_column_int64(stmt, 5);
        return 0;
}

static int sq_image_insert(orch_store *st, const orch_image *img, hd_error *err)
{
        SQ_LOCKED(st);
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "INSERT INTO images (" IMAGE_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?)",
                "adding an image", err);
        int rc;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, img->name);
        bind_text(stmt, 2, img->format);
        bind_text(stmt, 3, img->sha256);
        sqlite3_bind_int64(stmt, 4, (sqlite3_int64)img->virtual_size);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)img->file_size);
        sqlite3_bind_int64(stmt, 6, img->imported_at);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
                return hd_error_set(err, HD_E_CONFLICT, "an image named %s already exists",
                                    img->name);
        return rc == SQLITE_DONE ? 0 : sq_error(s, rc, "adding an image", err);
}

static int sq_image_get(orch_store *st, const char *name, orch_image *out, hd_error *err)
{
        SQ_LOCKED(st);
        int r = query_one(s, "SELECT " IMAGE_COLUMNS " FROM images WHERE name = ?", name,
                          read_image, out, "reading an image", err);

        return r == 1 ? hd_error_set(err, HD_E_NOT_FOUND, "no image named %s", name) : r;
}

static int sq_image_list(orch_store *st, orch_image_list *out, hd_error *err)
{
        SQ_LOCKED(st);
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY name", "listing images", err);

        if (!stmt)
                return -1;
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items),
                       read_image, "listing images", err);
}

/* After the foreign key refused: say who uses the image. */
static int image_in_use(sq_store *s, const char *name, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "SELECT name, id FROM workspaces WHERE image = ? AND state <> 'deleted'"
                " ORDER BY name LIMIT 11",
                "deleting an image", err);
        _cleanup_buf_ hd_buf users = HD_BUF_INIT;
        int n = 0;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, name);
        while (sqlite3_step(stmt) == SQLITE_ROW && ++n <= 10)
                hd_buf_appendf(&users, "%s%s (%s)", n > 1 ? ", " : "",
                               sqlite3_column_text(stmt, 0), sqlite3_column_text(stmt, 1));
        return hd_error_set(err, HD_E_CONFLICT,
                            "image %s is in use by workspace%s %s%s; delete %s first", name,
                            n > 1 ? "s" : "", users.data ? users.data : "?",
                            n > 10 ? " and more" : "", n > 1 ? "them" : "it");
}

static int image_delete_tx(sq_store *s, const char *name, hd_error *err)
{
        const char *op = "deleting an image";
        _cleanup_stmt_ sqlite3_stmt *detach = sq_prep(
                s, "UPDATE workspaces SET image = NULL WHERE image = ? AND state = 'deleted'",
                op, err);
        _cleanup_stmt_ sqlite3_stmt *del = NULL;
        int rc;

        if (!detach)
                return -1;
        bind_text(detach, 1, name);
        if (sq_done(s, detach, op, err) < 0)
                return -1;
        del = sq_prep(s, "DELETE FROM images WHERE name = ?", op, err);
        if (!del)
                return -1;
        bind_text(del, 1, name);
        rc = sqlite3_step(del);
        if (is_fk_error(s, rc))
                return image_in_use(s, name, err);
        if (rc != SQLITE_DONE)
                return sq_error(s, rc, op, err);
        if (sqlite3_changes(s->db) == 0)
                return hd_error_set(err, HD_E_NOT_FOUND, "no image named %s", name);
        return 0;
}

static int sq_image_delete(orch_store *st, const char *name, hd_error *err)
{
        return SQ_IN_TX(st, "deleting an image", err, image_delete_tx(s, name, err));
}

/* ---- template versions ------------------------------------------------------- */

#define TV_COLUMNS "name, hash, canonical_json, pushed_at, pushed_by"

static int read_tv(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_template_version *v = item;

        v->name = col_text(stmt, 0);
        v->hash = col_text(stmt, 1);
        v->canonical_json = col_text(stmt, 2);
        v->pushed_at = sqlite3_column_int64(stmt, 3);
        v->pushed_by = col_text(stmt, 4);
        return 0;
}

/* Reads name's highest seq (0: none) and hash's own seq, if stored: the
 * current version is left alone, an older one gets the next seq, a new one
 * is inserted with it. */
static int template_push_tx(sq_store *s, const orch_template_version *v, bool *created,
                            hd_error *err)
{
        const char *op = "pushing a template";
        _cleanup_stmt_ sqlite3_stmt *q = sq_prep(
                s,
                "SELECT coalesce(max(seq), 0), (SELECT seq FROM template_versions"
                " WHERE name = ?1 AND hash = ?2) FROM template_versions WHERE name = ?1",
                op, err);
        _cleanup_stmt_ sqlite3_stmt *w = NULL;
        int64_t top, mine;
        bool exists;
        int rc;

        if (!q)
                return -1;
        bind_text(q, 1, v->name);
        bind_text(q, 2, v->hash);
        rc = sqlite3_step(q);
        if (rc != SQLITE_ROW)
                return sq_error(s, rc, op, err);
        top = sqlite3_column_int64(q, 0);
        exists = sqlite3_column_type(q, 1) != SQLITE_NULL;
        mine = sqlite3_column_int64(q, 1);
        *created = !exists;
        if (exists && mine == top)
                return 0;
        w = sq_prep(s,
                    exists ? "UPDATE template_versions SET seq = ?6, pushed_at = ?4,"
                             " pushed_by = ?5 WHERE name = ?1 AND hash = ?2"
                           : "INSERT INTO template_versions (" TV_COLUMNS ", seq)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    op, err);
        if (!w)
                return -1;
        bind_text(w, 1, v->name);
        bind_text(w, 2, v->hash);
        bind_text(w, 3, v->canonical_json);
        sqlite3_bind_int64(w, 4, v->pushed_at);
        bind_text(w, 5, v->pushed_by);
        sqlite3_bind_int64(w, 6, top + 1);
        rc = sqlite3_step(w);
        if (rc == SQLITE_CONSTRAINT_CHECK)
                return hd_error_set(err, HD_E_INVALID, "template %s: its JSON is not valid",
                                    v->name);
        return rc == SQLITE_DONE ? 0 : sq_error(s, rc, op, err);
}

static int sq_template_push(orch_store *st, const orch_template_version *v, bool *created,
                            hd_error *err)
{
        return SQ_IN_TX(st, "pushing a template", err, template_push_tx(s, v, created, err));
}

static int sq_template_get(orch_store *st, const char *name, const char *hash,
                           orch_template_version *out, hd_error *err)
{
        SQ_LOCKED(st);
        const char *op = "reading a template";
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "SELECT " TV_COLUMNS " FROM template_versions WHERE name = ?1"
                " AND (?2 IS NULL OR hash = ?2) ORDER BY seq DESC LIMIT 1",
                op, err);
        int rc;

        if (!stmt)
                return -1;
        bind_text(stmt, 1, name);
        bind_text(stmt, 2, hash);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW)
                return read_tv(stmt, out, err);
        if (rc != SQLITE_DONE)
                return sq_error(s, rc, op, err);
        if (hash)
                return hd_error_set(err, HD_E_NOT_FOUND, "template %s has no version %s", name,
                                    hash);
        return hd_error_set(err, HD_E_NOT_FOUND, "no template named %s", name);
}

static int sq_template_list(orch_store *st, const char *name, orch_template_version_list *out,
                            hd_error *err)
{
        SQ_LOCKED(st);
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                name ? "SELECT " TV_COLUMNS " FROM template_versions WHERE name = ?"
                       " ORDER BY seq DESC"
                     : "SELECT " TV_COLUMNS " FROM template_versions t WHERE seq ="
                       " (SELECT max(seq) FROM template_versions WHERE name = t.name)"
                       " ORDER BY name",
                "listing templates", err);

        if (!stmt)
                return -1;
        if (name)
                bind_text(stmt, 1, name);
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items), read_tv,
                       "listing templates", err);
}

static int template_delete_tx(sq_store *s, const char *name, hd_error *err)
{
        const char *op = "deleting a template";
        _cleanup_stmt_ sqlite3_stmt *users = sq_prep(
                s,
                "SELECT name, id FROM workspaces WHERE template = ? AND state <> 'deleted'"
                " ORDER BY name LIMIT 11",
                op, err);
        _cleanup_stmt_ sqlite3_stmt *del = NULL;
        _cleanup_buf_ hd_buf who = HD_BUF_INIT;
        int n = 0;

        if (!users)
                return -1;
        bind_text(users, 1, name);
        while (sqlite3_step(users) == SQLITE_ROW && ++n <= 10)
                hd_buf_appendf(&who, "%s%s (%s)", n > 1 ? ", " : "",
                               sqlite3_column_text(users, 0), sqlite3_column_text(users, 1));
        if (n)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "template %s is in use by workspace%s %s%s; delete %s first",
                                    name, n > 1 ? "s" : "", who.data, n > 10 ? " and more" : "",
                                    n > 1 ? "them" : "it");
        del = sq_prep(s, "DELETE FROM template_versions WHERE name = ?", op, err);
        if (!del)
                return -1;
        bind_text(del, 1, name);
        if (sq_done(s, del, op, err) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return hd_error_set(err, HD_E_NOT_FOUND, "no template named %s", name);
        return 0;
}

static int sq_template_delete(orch_store *st, const char *name, hd_error *err)
{
        return SQ_IN_TX(st, "deleting a template", err, template_delete_tx(s, name, err));
}

/* ---- workspaces -------------------------------------------------------------- */

static int gpu_release_tx(sq_store *s, const char *ws_id, int64_t now, const char *op,
                          hd_error *err);

#define WS_COLUMNS                                                                      \
        "id, name, owner, image, template, vcpus, memory_mib, disk_gib, state, reason, " \
        "created_at, updated_at, state_changed_at, agent_token_hash, ip_addresses, "     \
        "last_heartbeat, last_heartbeat_at, ssh_user, deleted_at, gpu_count, gpu_model, "  \
        "gpu_numa, template_version"

static int read_ws(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_workspace *ws = item;
        const char *state = (const char *)sqlite3_column_text(stmt, 8);

        ws->id = col_text(stmt, 0);
        ws->name = col_text(stmt, 1);
        ws->owner = col_text(stmt, 2);
        ws->image = col_text(stmt, 3);
        ws->template_name = col_text(stmt, 4);
        ws->vcpus = (unsigned)sqlite3_column_int64(stmt, 5);
        ws->memory_mib = (uint64_t)sqlite3_column_int64(stmt, 6);
        ws->disk_gib = (uint64_t)sqlite3_column_int64(stmt, 7);
        ws->reason = col_text(stmt, 9);
        ws->created_at = sqlite3_column_int64(stmt, 10);
        ws->updated_at = sqlite3_column_int64(stmt, 11);
        ws->state_changed_at = sqlite3_column_int64(stmt, 12);
        ws->agent_token_hash = col_text(stmt, 13);
        ws->ip_addresses = col_text(stmt, 14);
        ws->last_heartbeat = col_text(stmt, 15);
        ws->last_heartbeat_at = sqlite3_column_int64(stmt, 16);
        ws->ssh_user = col_text(stmt, 17);
        ws->deleted_at = sqlite3_column_int64(stmt, 18);
        ws->gpu_count = (unsigned)sqlite3_column_int64(stmt, 19);
        ws->gpu_model = col_text(stmt, 20);
        ws->gpu_numa = col_text(stmt, 21);
        ws->template_version = col_text(stmt, 22);
        if (orch_ws_state_from_name(state, &ws->state, err) < 0)
                return hd_error_prefix(err, "store: workspace %s", ws->id);
        return 0;
}

static int ws_insert_tx(sq_store *s, const orch_workspace *w, const orch_admission *adm,
                        hd_error *err)
{
        const char *op = "creating a workspace";
        _cleanup_stmt_ sqlite3_stmt *ins = sq_prep(
                s, "INSERT INTO workspaces (" WS_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                   "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                op, err);
        _cleanup_stmt_ sqlite3_stmt *ev = NULL;
        int rc;

        if (!ins)
                return -1;
        bind_text(ins, 1, w->id);
        bind_text(ins, 2, w->name);
        bind_text(ins, 3, w->owner);
        bind_text(ins, 4, w->image);
        bind_text(ins, 5, w->template_name);
        sqlite3_bind_int64(ins, 6, w->vcpus);
        sqlite3_bind_int64(ins, 7, (sqlite3_int64)w->memory_mib);
        sqlite3_bind_int64(ins, 8, (sqlite3_int64)w->disk_gib);
        bind_text(ins, 9, orch_ws_state_name(w->state));
        bind_text(ins, 10, w->reason);
        sqlite3_bind_int64(ins, 11, w->created_at);
        sqlite3_bind_int64(ins, 12, w->updated_at);
        sqlite3_bind_int64(ins, 13, w->state_changed_at);
        bind_text(ins, 14, w->agent_token_hash);
        bind_text(ins, 15, w->ip_addresses);
        bind_text(ins, 16, w->last_heartbeat);
        bind_time(ins, 17, w->last_heartbeat_at);
        bind_text(ins, 18, w->ssh_user);
        bind_time(ins, 19, w->deleted_at);
        sqlite3_bind_int64(ins, 20, w->gpu_count);
        bind_text(ins, 21, w->gpu_model);
        bind_text(ins, 22, w->gpu_numa);
        bind_text(ins, 23, w->template_version);
        rc = sqlite3_step(ins);
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
                if (strstr(sqlite3_errmsg(s->db), "workspaces.id"))
                        return hd_error_set(err, HD_E_INTERNAL,
                                            "workspace id %s was drawn twice; try again", w->id);
                return hd_error_set(err, HD_E_CONFLICT, "a workspace named %s already exists",
                                    w->name);
        }
        if (is_fk_error(s, rc))
                return hd_error_set(err, HD_E_NOT_FOUND,
                                    "no image named %s: import it before creating workspace %s",
                                    w->image, w->name);
        if (rc != SQLITE_DONE)
                return sq_error(s, rc, op, err);

        /* What it was made from, kept in the log after the row is gone. */
        ev = sq_prep(s,
                     "INSERT INTO events (workspace_id, time, kind, to_state, detail)"
                     " SELECT id, created_at, 'created', state, json_object('name', name,"
                     " 'owner', owner, 'image', image, 'template', template,"
                     " 'template_version', template_version, 'vcpus', vcpus,"
                     " 'memory_mib', memory_mib, 'disk_gib', disk_gib, 'ssh_user', ssh_user,"
                     " 'gpu_count', gpu_count, 'gpu_model', gpu_model, 'gpu_numa', gpu_numa)"
                     " FROM workspaces WHERE id = ?",
                     op, err);
        if (!ev)
                return -1;
        bind_text(ev, 1, w->id);
        if (sq_done(s, ev, op, err) < 0)
                return -1;
        return adm ? sq_admit_tx(s, w->id, true, adm, w->created_at, err) : 0;
}

static int sq_ws_insert(orch_store *st, const orch_workspace *row, const orch_admission *adm,
                        hd_error *err)
{
        return SQ_IN_TX(st, "creating a workspace", err, ws_insert_tx(s, row, adm, err));
}

static int sq_ws_get(orch_store *st, orch_ws_key key, const char *value, orch_workspace *out,
                     hd_error *err)
{
        SQ_LOCKED(st);
        int r = query_one(s,
                          key == ORCH_WS_BY_ID
                                  ? "SELECT " WS_COLUMNS " FROM workspaces WHERE id = ?"
                                  : "SELECT " WS_COLUMNS " FROM workspaces"
                                    " WHERE name = ? AND state <> 'deleted'",
                          value, read_ws, out, "reading a workspace", err);

        if (r == 1)
                return hd_error_set(err, HD_E_NOT_FOUND, "no workspace %s %s",
                                    key == ORCH_WS_BY_ID ? "has the id" : "is named", value);
        return r;
}

static int sq_ws_list(orch_store *st, const orch_ws_filter *f, orch_workspace_list *out,
                      hd_error *err)
{
        SQ_LOCKED(st);
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "SELECT " WS_COLUMNS " FROM workspaces WHERE (?1 IS NULL OR owner = ?1)"
                " AND instr(?2, ',' || state || ',') > 0 ORDER BY name, created_at, id",
                "listing workspaces", err);
        _cleanup_buf_ hd_buf states = HD_BUF_INIT;

        if (!stmt)
                return -1;
        hd_buf_append(&states, ",");
        for (unsigned i = 0; i < ORCH_WS__STATE_COUNT; i++)
                if (f->states & ORCH_WS_BIT(i))
                        hd_buf_appendf(&states, "%s,", orch_ws_state_name((orch_ws_state)i));
        bind_text(stmt, 1, f->owner);
        bind_text(stmt, 2, states.data);
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items), read_ws,
                       "listing workspaces", err);
}

/* The workspace's state inside a transaction: NOT_FOUND when there is none. */
static int read_state(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        if (orch_ws_state_from_name((const char *)sqlite3_column_text(stmt, 0), item, err) < 0)
                return hd_error_prefix(err, "store: workspace %s", sqlite3_column_text(stmt, 1));
        return 0;
}

int current_state(sq_store *s, const char *id, orch_ws_state *state, const char *op,
                         hd_error *err)
{
        int r = query_one(s, "SELECT state, id FROM workspaces WHERE id = ?", id, read_state,
                          state, op, err);

        return r == 1 ? hd_error_set(err, HD_E_NOT_FOUND, "no workspace has the id %s", id) : r;
}

/* 0 when workspace id exists and is not deleted; else HD_E_NOT_FOUND or HD_E_CONFLICT. */
static int live_workspace(sq_store *s, const char *id, const char *op, hd_error *err)
{
        orch_ws_state state;

        if (current_state(s, id, &state, op, err) < 0)
                return -1;
        if (state == ORCH_WS_DELETED)
                return hd_error_set(err, HD_E_CONFLICT, "workspace %s is deleted", id);
        return 0;
}

static int ws_update_tx(sq_store *s, const char *id, const orch_ws_update *u, int64_t now,
                        hd_error *err)
{
        const char *op = "updating a workspace";
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
        int rc;

        if (live_workspace(s, id, op, err) < 0)
                return -1;
        stmt = sq_prep(s,
                       "UPDATE workspaces SET"
                       " ip_addresses = CASE WHEN ?2 IS NULL THEN ip_addresses"
                       "   ELSE NULLIF(?2, '') END,"
                       " last_heartbeat = CASE WHEN ?3 IS NULL THEN last_heartbeat"
                       "   ELSE NULLIF(?3, '') END,"
                       " last_heartbeat_at = CASE WHEN ?3 IS NULL THEN last_heartbeat_at"
                       "   WHEN ?3 = '' THEN NULL ELSE ?4 END,"
                       " agent_token_hash = CASE WHEN ?5 IS NULL THEN agent_token_hash"
                       "   ELSE NULLIF(?5, '') END,"
                       " updated_at = ?6"
                       " WHERE id = ?1",
                       op, err);
        if (!stmt)
                return -1;
        bind_text(stmt, 1, id);
        bind_text(stmt, 2, u->ip_addresses);
        bind_text(stmt, 3, u->last_heartbeat);
        sqlite3_bind_int64(stmt, 4, u->last_heartbeat_at ? u->last_heartbeat_at : now);
        bind_text(stmt, 5, u->agent_token_hash);
        sqlite3_bind_int64(stmt, 6, now);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_CONSTRAINT_CHECK)
                return hd_error_set(err, HD_E_INVALID,
                                    "workspace %s: IP addresses and heartbeats must be JSON "
                                    "(%s)",
                                    id, sqlite3_errmsg(s->db));
        return rc == SQLITE_DONE ? 0 : sq_error(s, rc, op, err);
}

static int sq_ws_update(orch_store *st, const char *id, const orch_ws_update *u, int64_t now,
                        hd_error *err)
{
        return SQ_IN_TX(st, "updating a workspace", err, ws_update_tx(s, id, u, now, err));
}

static int read_policy(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_ws_policy *p = item;
        const unsigned char *action = sqlite3_column_text(stmt, 2);

        (void)err;
        p->idle_timeout_s = (unsigned)sqlite3_column_int64(stmt, 0);
        p->lifetime_s = (unsigned)sqlite3_column_int64(stmt, 1);
        p->lifetime_delete = action && strcmp((const char *)action, "delete") == 0;
        p->state = col_text(stmt, 3);
        return 0;
}

static int sq_policy_get(orch_store *st, const char *id, orch_ws_policy *out, hd_error *err)
{
        SQ_LOCKED(st);
        int r = query_one(s,
                          "SELECT idle_timeout_s, lifetime_s, lifetime_action, policy_state"
                          " FROM workspaces WHERE id = ?",
                          id, read_policy, out, "reading a workspace's policy", err);

        if (r == 1)
                return hd_error_set(err, HD_E_NOT_FOUND, "no workspace has the id %s", id);
        return r;
}

static int policy_set_tx(sq_store *s, const char *id, const orch_ws_policy *p, int64_t now,
                         hd_error *err)
{
        const char *op = "updating a workspace's policy";
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;

        if (live_workspace(s, id, op, err) < 0)
                return -1;
        stmt = sq_prep(s,
                       "UPDATE workspaces SET idle_timeout_s = ?2, lifetime_s = ?3,"
                       " lifetime_action = ?4, policy_state = ?5, updated_at = ?6 WHERE id = ?1",
                       op, err);
        if (!stmt)
                return -1;
        bind_text(stmt, 1, id);
        sqlite3_bind_int64(stmt, 2, p->idle_timeout_s);
        sqlite3_bind_int64(stmt, 3, p->lifetime_s);
        bind_text(stmt, 4, p->lifetime_delete ? "delete" : "stop");
        bind_text(stmt, 5, p->state);
        sqlite3_bind_int64(stmt, 6, now);
        return sq_done(s, stmt, op, err);
}

static int sq_policy_set(orch_store *st, const char *id, const orch_ws_policy *p, int64_t now,
                         hd_error *err)
{
        return SQ_IN_TX(st, "updating a workspace's policy", err, policy_set_tx(s, id, p, now, err));
}

/* ---- a workspace's startup script ------------------------------------------- */

static void bind_or_null(sqlite3_stmt *stmt, int i, int64_t v, bool present)
{
        if (present)
                sqlite3_bind_int64(stmt, i, v);
        else
                sqlite3_bind_null(stmt, i);
}

static int read_startup(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_ws_startup *su = item;
        const unsigned char *status = sqlite3_column_text(stmt, 0);

        if (orch_startup_status_from_name((const char *)status, &su->status, err) < 0)
                return -1;
        su->exit_status = sqlite3_column_type(stmt, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 1);
        su->signal = sqlite3_column_int(stmt, 2);
        su->started_at = sqlite3_column_int64(stmt, 3);
        su->finished_at = sqlite3_column_int64(stmt, 4);
        su->timeout_s = (unsigned)sqlite3_column_int64(stmt, 5);
        su->output_bytes = (uint64_t)sqlite3_column_int64(stmt, 6);
        su->output_truncated = sqlite3_column_int(stmt, 7) != 0;
        su->note = col_text(stmt, 8);
        su->updated_at = sqlite3_column_int64(stmt, 9);
        su->output = col_text(stmt, 10);
        return 0;
}

static int sq_startup_get(orch_store *st, const char *id, bool with_output, orch_ws_startup *out,
                          hd_error *err)
{
        SQ_LOCKED(st);
        int r = query_one(s,
                          with_output ? "SELECT status, exit_status, signal, started_at, finished_at, timeout_s,"
                                        " output_bytes, output_truncated, note, updated_at, output"
                                        " FROM workspace_startup WHERE workspace_id = ?"
                                      : "SELECT status, exit_status, signal, started_at, finished_at, timeout_s,"
                                        " output_bytes, output_truncated, note, updated_at, NULL"
                                        " FROM workspace_startup WHERE workspace_id = ?",
                          id, read_startup, out, "reading a workspace's startup script", err);

        return r < 0 ? -1 : r == 0;
}

static int startup_set_tx(sq_store *s, const char *id, const orch_ws_startup *su, int64_t now,
                          hd_error *err)
{
        const char *op = "recording a workspace's startup script";
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;

        if (live_workspace(s, id, op, err) < 0)
                return -1;
        stmt = sq_prep(s,
                       "INSERT INTO workspace_startup (workspace_id, status, exit_status, signal, started_at,"
                       " finished_at, timeout_s, output, output_bytes, output_truncated, note, updated_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                       " ON CONFLICT (workspace_id) DO UPDATE SET status = excluded.status,"
                       " exit_status = excluded.exit_status, signal = excluded.signal,"
                       " started_at = excluded.started_at, finished_at = excluded.finished_at,"
                       " timeout_s = excluded.timeout_s, output = excluded.output,"
                       " output_bytes = excluded.output_bytes, output_truncated = excluded.output_truncated,"
                       " note = excluded.note, updated_at = excluded.updated_at",
                       op, err);
        if (!stmt)
                return -1;
        bind_text(stmt, 1, id);
        bind_text(stmt, 2, orch_startup_status_name(su->status));
        bind_or_null(stmt, 3, su->exit_status, su->exit_status >= 0);
        bind_or_null(stmt, 4, su->signal, su->signal > 0);
        bind_time(stmt, 5, su->started_at);
        bind_time(stmt, 6, su->finished_at);
        sqlite3_bind_int64(stmt, 7, su->timeout_s);
        bind_text(stmt, 8, su->output);
        sqlite3_bind_int64(stmt, 9, (sqlite3_int64)su->output_bytes);
        sqlite3_bind_int(stmt, 10, su->output_truncated);
        bind_text(stmt, 11, su->note);
        sqlite3_bind_int64(stmt, 12, now);
        return sq_done(s, stmt, op, err);
}

static int sq_startup_set(orch_store *st, const char *id, const orch_ws_startup *su, int64_t now,
                          hd_error *err)
{
        return SQ_IN_TX(st, "recording a workspace's startup script", err, startup_set_tx(s, id, su, now, err));
}

static int ws_transition_tx(sq_store *s, const char *id, unsigned expected_from,
                            orch_ws_state to, const char *reason, const orch_admission *adm,
                            int64_t now, hd_error *err)
{
        const char *op = "changing a workspace's state";
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
        orch_ws_state from;

        if (current_state(s, id, &from, op, err) < 0 ||
            orch_ws_check_transition(id, from, expected_from, to, err) < 0)
                return -1;
        stmt = sq_prep(s,
                       "UPDATE workspaces SET state = ?2, reason = ?3, updated_at = ?4,"
                       " state_changed_at = ?4,"
                       " deleted_at = CASE WHEN ?2 = 'deleted' THEN ?4 ELSE deleted_at END"
                       " WHERE id = ?1",
                       op, err);
        if (!stmt)
                return -1;
        bind_text(stmt, 1, id);
        bind_text(stmt, 2, orch_ws_state_name(to));
        bind_text(stmt, 3, reason);
        sqlite3_bind_int64(stmt, 4, now);
        if (sq_done(s, stmt, op, err) < 0 ||
            insert_event(s, id, now, "state", orch_ws_state_name(from), orch_ws_state_name(to),
                         reason, NULL, op, err) < 0)
                return -1;
        /* A stopped, failed or deleted workspace runs nothing and holds no
         * GPU, even when its caller dies before releasing them. */
        if (to == ORCH_WS_STOPPED || to == ORCH_WS_FAILED || to == ORCH_WS_DELETED)
                return gpu_release_tx(s, id, now, op, err);
        return adm ? sq_admit_tx(s, id, false, adm, now, err) : 0;
}

static int sq_ws_transition(orch_store *st, const char *id, unsigned expected_from,
                            orch_ws_state to, const char *reason, const orch_admission *adm,
                            int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "changing a workspace's state", err,
                        ws_transition_tx(s, id, expected_from, to, reason, adm, now, err));
}

static int ws_purge_tx(sq_store *s, const char *id, int64_t now, hd_error *err)
{
        const char *op = "purging a workspace";
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
        orch_ws_state state;

        if (current_state(s, id, &state, op, err) < 0)
                return -1;
        if (state != ORCH_WS_DELETED)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "workspace %s is %s; only a deleted workspace can be purged",
                                    id, orch_ws_state_name(state));
        if (gpu_release_tx(s, id, now, op, err) < 0)
                return -1;
        stmt = sq_prep(s, "DELETE FROM workspaces WHERE id = ?", op, err);
        if (!stmt)
                return -1;
        bind_text(stmt, 1, id);
        return sq_done(s, stmt, op, err);
}

static int sq_ws_purge(orch_store *st, const char *id, int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "purging a workspace", err, ws_purge_tx(s, id, now, err));
}

/* ---- event log --------------------------------------------------------------- */

static int event_add_tx(sq_store *s, const char *id, const char *kind, const char *reason,
                        const char *detail, int64_t now, hd_error *err)
{
        orch_ws_state state;

        if (current_state(s, id, &state, "logging an event", err) < 0)
                return -1;
        return insert_event(s, id, now, kind, NULL, NULL, reason, detail, "logging an event",
                            err);
}

static int sq_event_add(orch_store *st, const char *id, const char *kind, const char *reason,
                        const char *detail, int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "logging an event", err,
                        event_add_tx(s, id, kind, reason, detail, now, err));
}

static int read_event(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_event *ev = item;

        ev->id = sqlite3_column_int64(stmt, 0);
        ev->workspace_id = col_text(stmt, 1);
        ev->time = sqlite3_column_int64(stmt, 2);
        ev->kind = col_text(stmt, 3);
        ev->from_state = col_text(stmt, 4);
        ev->to_state = col_text(stmt, 5);
        ev->reason = col_text(stmt, 6);
        ev->detail = col_text(stmt, 7);
        ev->name = col_text(stmt, 8);
        ev->owner = col_text(stmt, 9);
        ev->state = col_text(stmt, 10);
        return 0;
}

/* An event with its workspace as of that event: name and owner from the
 * row, or from the "created" event once the row is purged; the state from
 * the newest event up to this one that set a state (both use the index
 * events(workspace_id, id)). */
#define EVENT_SELECT                                                                              \
        "SELECT e.id, e.workspace_id, e.time, e.kind, e.from_state, e.to_state, e.reason,"      \
        " e.detail, coalesce(w.name, json_extract(c.detail, '$.name')),"                        \
        " coalesce(w.owner, json_extract(c.detail, '$.owner')),"                                \
        " (SELECT s.to_state FROM events s WHERE s.workspace_id = e.workspace_id"               \
        "   AND s.id <= e.id AND s.to_state IS NOT NULL ORDER BY s.id DESC LIMIT 1)"            \
        " FROM events e LEFT JOIN workspaces w ON w.id = e.workspace_id"                        \
        " LEFT JOIN events c ON c.workspace_id = e.workspace_id AND c.kind = 'created'"

static int sq_event_list(orch_store *st, const char *id, int64_t after_id, size_t limit,
                         orch_event_list *out, hd_error *err)
{
        SQ_LOCKED(st);
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                id ? EVENT_SELECT " WHERE e.workspace_id = ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3"
                   : EVENT_SELECT " WHERE e.id > ?2 ORDER BY e.id LIMIT ?3",
                "listing events", err);

        if (!stmt)
                return -1;
        if (id)
                bind_text(stmt, 1, id);
        sqlite3_bind_int64(stmt, 2, after_id);
        sqlite3_bind_int64(stmt, 3, limit ? (sqlite3_int64)limit : -1);
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items),
                       read_event, "listing events", err);
}

static int read_int64(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        *(int64_t *)item = sqlite3_column_int64(stmt, 0);
        return 0;
}

static int sq_event_last_id(orch_store *st, int64_t *out, hd_error *err)
{
        SQ_LOCKED(st);
        return query_one(s, "SELECT coalesce(max(id), 0) FROM events", NULL, read_int64, out,
                         "reading the newest event", err) < 0 ? -1 : 0;
}

/* ---- GPUs -------------------------------------------------------------------- */

static int gpu_sync_tx(sq_store *s, const orch_gpu_row *usable, size_t n, int64_t now,
                       hd_error *err)
{
        const char *op = "recording the GPU inventory";
        _cleanup_stmt_ sqlite3_stmt *gone =
                sq_prep(s, "UPDATE gpus SET present = 0, updated_at = ? WHERE present = 1", op,
                        err);
        _cleanup_stmt_ sqlite3_stmt *up = NULL;

        if (!gone)
                return -1;
        sqlite3_bind_int64(gone, 1, now);
        if (sq_done(s, gone, op, err) < 0)
                return -1;
        up = sq_prep(s,
                     "INSERT INTO gpus (address, vendor_device, model, numa_node, present,"
                     " updated_at) VALUES (?1, lower(?2), ?3, ?4, 1, ?5)"
                     " ON CONFLICT (address) DO UPDATE SET vendor_device = excluded.vendor_device,"
                     " model = excluded.model, numa_node = excluded.numa_node, present = 1,"
                     " updated_at = excluded.updated_at",
                     op, err);
        if (!up)
                return -1;
        for (size_t i = 0; i < n; i++) {
                sqlite3_reset(up);
                bind_text(up, 1, usable[i].address);
                bind_text(up, 2, usable[i].vendor_device);
                bind_text(up, 3, usable[i].model);
                sqlite3_bind_int(up, 4, usable[i].numa_node);
                sqlite3_bind_int64(up, 5, now);
                if (sq_done(s, up, op, err) < 0)
                        return -1;
        }
        return 0;
}

static int sq_gpu_sync(orch_store *st, const orch_gpu_row *usable, size_t n, int64_t now,
                       hd_error *err)
{
        return SQ_IN_TX(st, "recording the GPU inventory", err,
                        gpu_sync_tx(s, usable, n, now, err));
}

int read_gpu(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        orch_gpu_row *g = item;

        g->address = col_text(stmt, 0);
        g->vendor_device = col_text(stmt, 1);
        g->model = col_text(stmt, 2);
        g->numa_node = sqlite3_column_int(stmt, 3);
        g->present = sqlite3_column_int(stmt, 4) != 0;
        g->quarantined = sqlite3_column_int(stmt, 5) != 0;
        g->quarantine_reason = col_text(stmt, 6);
        g->workspace_id = col_text(stmt, 7);
        return 0;
}

static int gpu_list_tx(sq_store *s, orch_gpu_row_list *out, const char *op, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "SELECT g.address, g.vendor_device, g.model, g.numa_node, g.present,"
                " g.quarantined, g.quarantine_reason, a.workspace_id"
                " FROM gpus g LEFT JOIN gpu_assignments a ON a.address = g.address"
                " ORDER BY g.address",
                op, err);

        if (!stmt)
                return -1;
        return collect(s, stmt, (void **)&out->items, &out->count, sizeof(*out->items), read_gpu,
                       op, err);
}

static int sq_gpu_list(orch_store *st, orch_gpu_row_list *out, hd_error *err)
{
        SQ_LOCKED(st);
        return gpu_list_tx(s, out, "listing GPUs", err);
}

int read_text(sqlite3_stmt *stmt, void *item, hd_error *err)
{
        *(char **)item = col_text(stmt, 0);
        return 0;
}

static int gpu_held_tx(sq_store *s, const char *ws_id, char ***out, size_t *n, const char *op,
                       hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "SELECT address FROM gpu_assignments WHERE workspace_id = ? ORDER BY address",
                op, err);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, ws_id);
        return collect(s, stmt, (void **)out, n, sizeof(**out), read_text, op, err);
}

static int sq_gpu_held(orch_store *st, const char *ws_id, char ***out, size_t *n,
                       hd_error *err)
{
        SQ_LOCKED(st);
        if (gpu_held_tx(s, ws_id, out, n, "listing a workspace's GPUs", err) == 0)
                return 0;
        orch_gpu_addresses_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
}

/* Log the GPUs ws_id holds now under kind, when it holds any. */
static int log_gpus(sq_store *s, const char *ws_id, const char *kind, int64_t now,
                    const char *op, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s,
                "INSERT INTO events (workspace_id, time, kind, detail)"
                " SELECT ?1, ?2, ?3, json_object('addresses', json(a)) FROM"
                "  (SELECT json_group_array(address) AS a, count(*) AS n FROM"
                "   (SELECT address FROM gpu_assignments WHERE workspace_id = ?1"
                "    ORDER BY address))"
                " WHERE n > 0",
                op, err);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, ws_id);
        sqlite3_bind_int64(stmt, 2, now);
        bind_text(stmt, 3, kind);
        return sq_done(s, stmt, op, err);
}

static int gpu_release_tx(sq_store *s, const char *ws_id, int64_t now, const char *op,
                          hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;

        if (log_gpus(s, ws_id, "gpu.released", now, op, err) < 0)
                return -1;
        stmt = sq_prep(s, "DELETE FROM gpu_assignments WHERE workspace_id = ?", op, err);
        if (!stmt)
                return -1;
        bind_text(stmt, 1, ws_id);
        return sq_done(s, stmt, op, err);
}

static int sq_gpu_release(orch_store *st, const char *ws_id, int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "releasing GPUs", err,
                        gpu_release_tx(s, ws_id, now, "releasing GPUs", err));
}

static int gpu_assign(sq_store *s, const char *ws_id, const orch_gpu_row *rows,
                      const size_t *pick, unsigned count, int64_t now, const char *op,
                      hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = sq_prep(
                s, "INSERT INTO gpu_assignments (address, workspace_id, assigned_at)"
                   " VALUES (?, ?, ?)",
                op, err);
        int rc;

        if (!stmt)
                return -1;
        for (unsigned i = 0; i < count; i++) {
                sqlite3_reset(stmt);
                bind_text(stmt, 1, rows[pick[i]].address);
                bind_text(stmt, 2, ws_id);
                sqlite3_bind_int64(stmt, 3, now);
                rc = sqlite3_step(stmt);
                /* Cannot happen inside BEGIN IMMEDIATE; the key refuses it anyway. */
                if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                        return hd_error_set(err, HD_E_CONFLICT,
                                            "GPU %s was claimed by another workspace meanwhile",
                                            rows[pick[i]].address);
                if (rc != SQLITE_DONE)
                        return sq_error(s, rc, op, err);
        }
        return log_gpus(s, ws_id, "gpu.claimed", now, op, err);
}

int gpu_claim_tx(sq_store *s, const char *ws_id, unsigned count, const char *filter,
                        const char *policy, int64_t now, char ***out, size_t *n,
                        hd_error *err)
{
        const char *op = "claiming GPUs";
        _cleanup_gpu_rows_ orch_gpu_row_list all = {0};
        _cleanup_free_ size_t *pick = NULL;
        orch_ws_state state;

        if (current_state(s, ws_id, &state, op, err) < 0)
                return -1;
        if (state == ORCH_WS_DELETED)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "workspace %s is deleted; it cannot take GPUs", ws_id);
        if (gpu_held_tx(s, ws_id, out, n, op, err) < 0)
                return -1;
        if (*n == count)
                return 0;
        if (*n)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "workspace %s already holds %zu GPUs, not the %u asked "
                                    "for; release them first",
                                    ws_id, *n, count);
        pick = hd_malloc0(count * sizeof(*pick));
        if (gpu_list_tx(s, &all, op, err) < 0 ||
            orch_gpu_choose(all.items, all.count, count, filter, policy, pick, err) < 0 ||
            gpu_assign(s, ws_id, all.items, pick, count, now, op, err) < 0)
                return -1;
        *out = hd_malloc0(count * sizeof(**out));
        for (unsigned i = 0; i < count; i++)
                (*out)[i] = steal_ptr(all.items[pick[i]].address);
        *n = count;
        return 0;
}

static int sq_gpu_claim(orch_store *st, const char *ws_id, unsigned count, const char *filter,
                        const char *policy, int64_t now, char ***out, size_t *n,
                        hd_error *err)
{
        int r = SQ_IN_TX(st, "claiming GPUs", err,
                         gpu_claim_tx(s, ws_id, count, filter, policy, now, out, n, err));

        if (r < 0) {
                orch_gpu_addresses_free(*out, *n);
                *out = NULL;
                *n = 0;
        }
        return r;
}

static int gpu_quarantine_tx(sq_store *s, const char *address, const char *reason,
                             int64_t now, hd_error *err)
{
        const char *op = reason ? "quarantining a GPU" : "clearing a GPU's quarantine";
        _cleanup_stmt_ sqlite3_stmt *stmt =
                sq_prep(s,
                        "UPDATE gpus SET quarantined = ?2 IS NOT NULL, quarantine_reason = ?2,"
                        " updated_at = ?3 WHERE address = ?1",
                        op, err);

        if (!stmt)
                return -1;
        bind_text(stmt, 1, address);
        bind_text(stmt, 2, reason);
        sqlite3_bind_int64(stmt, 3, now);
        if (sq_done(s, stmt, op, err) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return hd_error_set(err, HD_E_NOT_FOUND,
                                    "no GPU at PCI address %s is known; see the GPU list",
                                    address);
        return 0;
}

static int sq_gpu_quarantine(orch_store *st, const char *address, const char *reason,
                             int64_t now, hd_error *err)
{
        return SQ_IN_TX(st, "quarantining a GPU", err,
                        gpu_quarantine_tx(s, address, reason, now, err));
}

static const struct orch_store_ops sq_ops = {
        .name = "sqlite",
        .close = sq_close,
        .schema_version = sq_schema_version,
        .image_insert = sq_image_insert,
        .image_get = sq_image_get,
        .image_list = sq_image_list,
        .image_delete = sq_image_delete,
        .template_push = sq_template_push,
        .template_get = sq_template_get,
        .template_list = sq_template_list,
        .template_delete = sq_template_delete,
        .ws_insert = sq_ws_insert,
        .ws_get = sq_ws_get,
        .ws_list = sq_ws_list,
        .ws_update = sq_ws_update,
        .ws_transition = sq_ws_transition,
        .ws_purge = sq_ws_purge,
        .policy_get = sq_policy_get,
        .policy_set = sq_policy_set,
        .startup_get = sq_startup_get,
        .startup_set = sq_startup_set,
        .event_add = sq_event_add,
        .event_list = sq_event_list,
        .event_last_id = sq_event_last_id,
        .gpu_sync = sq_gpu_sync,
        .gpu_claim = sq_gpu_claim,
        .gpu_release = sq_gpu_release,
        .gpu_list = sq_gpu_list,
        .gpu_held = sq_gpu_held,
        .gpu_quarantine = sq_gpu_quarantine,
        SQ_USER_OPS,
        .quota_set = sq_quota_set,
        .quota_delete = sq_quota_delete,
        .quota_list = sq_quota_list,
        .quota_report = sq_quota_report,
};

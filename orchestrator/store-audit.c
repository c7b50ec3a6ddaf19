/* store-audit.c — the audit log's rows in sqlite (orchestrator/store-audit.h):
 * its own connection to hostd's database, appends (with retention's prune
 * in the same transaction) and the filtered listing of GET /v1/audit.
 *
 * The second file of hostd that includes sqlite3.h: the audit log needs a
 * transaction that spans a step outside the database (api/audit.c writes
 * the JSONL file inside it), which the main store's one-call operations do
 * not offer. Same settings as store-sqlite.c: synchronous=FULL (a record is
 * on disk when the append returns), busy_timeout 10 s, one mutex held for
 * each whole call. */
#include "orchestrator/store-audit.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define AUDIT_BUSY_TIMEOUT_MS 10000

struct orch_audit_store {
        sqlite3 *db;
        pthread_mutex_t lock;
};

HD_DEFINE_CLEANUP(sqlite3_stmt *, sqlite3_finalize)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

static void unlockp(pthread_mutex_t **m)
{
        if (*m)
                pthread_mutex_unlock(*m);
}

/* The store's mutex, held until the calling function returns. */
#define AUDIT_LOCKED(st)                                                   \
        _cleanup_(unlockp) pthread_mutex_t *held_ = &(st)->lock;         \
        pthread_mutex_lock(held_)

static int db_error(orch_audit_store *st, const char *op, hd_error *err)
{
        return hd_error_set(err, HD_E_STORE, "audit store: %s: %s", op, sqlite3_errmsg(st->db));
}

static sqlite3_stmt *prepare(orch_audit_store *st, const char *sql, const char *op, hd_error *err)
{
        sqlite3_stmt *stmt = NULL;

        if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
                db_error(st, op, err);
                return NULL;
        }
        return stmt;
}

static int exec(orch_audit_store *st, const char *sql, const char *op, hd_error *err)
{
        return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(st, op, err);
}

void orch_audit_row_clear(orch_audit_row *row)
{
        if (!row)
                return;
        free(row->body);
        memset(row, 0, sizeof(*row));
}

void orch_audit_rows_free(orch_audit_rows *rows)
{
        for (size_t i = 0; rows && i < rows->count; i++)
                orch_audit_row_clear(&rows->items[i]);
        if (rows) {
                free(rows->items);
                rows->items = NULL;
                rows->count = 0;
        }
}

void orch_audit_store_close(orch_audit_store *st)
{
        if (!st)
                return;
        sqlite3_close_v2(st->db);
        pthread_mutex_destroy(&st->lock);
        free(st);
}

orch_audit_store *orch_audit_store_open(const char *location, hd_error *err)
{
        orch_audit_store *st = hd_malloc0(sizeof(*st));
        _cleanup_stmt_ sqlite3_stmt *probe = NULL;

        pthread_mutex_init(&st->lock, NULL);
        /* No CREATE: the main store made and migrated the file. */
        if (sqlite3_open_v2(location, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
                hd_error_set(err, HD_E_STORE, "audit store %s: cannot open: %s", location,
                             st->db ? sqlite3_errmsg(st->db) : "out of memory");
                goto fail;
        }
        sqlite3_extended_result_codes(st->db, 1);
        sqlite3_busy_timeout(st->db, AUDIT_BUSY_TIMEOUT_MS);
        if (exec(st, "PRAGMA synchronous = FULL", "open", err) < 0)
                goto fail;
        probe = prepare(st, "SELECT audit_log.seq, body, audit_log.hash, pruned_at FROM audit_log, audit_anchor LIMIT 0", "open", err);
        if (!probe) {
                hd_error_prefix(err, "%s has no audit tables (a database older than this hostd, not migrated?)",
                                location);
                goto fail;
        }
        return st;
fail:
        orch_audit_store_close(st);
        return NULL;
}

int orch_audit_store_check(orch_audit_store *st, hd_error *err)
{
        AUDIT_LOCKED(st);

        if (sqlite3_db_readonly(st->db, "main") == 1)
                return hd_error_set(err, HD_E_STORE, "audit store: the database is read-only");
        if (exec(st, "BEGIN IMMEDIATE", "starting a write", err) < 0)
                return -1;
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return 0;
}

static void read_row(sqlite3_stmt *stmt, orch_audit_row *row)
{
        const unsigned char *body = sqlite3_column_text(stmt, 1);
        const unsigned char *hash = sqlite3_column_text(stmt, 2);

        row->seq = sqlite3_column_int64(stmt, 0);
        row->body = hd_strdup(body ? (const char *)body : "");
        snprintf(row->hash, sizeof(row->hash), "%s", hash ? (const char *)hash : "");
}

/* A query answering at most one row (seq, body, hash) with one optional
 * parameter: 0 with *out filled, 1 without a row. */
static int one_row(orch_audit_store *st, const char *sql, const char *text, int64_t num, orch_audit_row *out,
                   const char *op, hd_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *stmt = prepare(st, sql, op, err);
        int rc;

        if (!stmt)
                return -1;
        if (text)
                sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
        else if (num)
                sqlite3_bind_int64(stmt, 1, num);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
                read_row(stmt, out);
                return 0;
        }
        return rc == SQLITE_DONE ? 1 : db_error(st, op, err);
}

static int anchor_locked(orch_audit_store *st, int64_t *seq, char hash[65], hd_error *err)
{
        orch_audit_row row = {0};
        int r = one_row(st, "SELECT seq, NULL, hash FROM audit_anchor WHERE id = 1", NULL, 0, &row,
                        "reading the anchor", err);

        if (r == 0) {
                *seq = row.seq;
                memcpy(hash, row.hash, 65);
        }
        orch_audit_row_clear(&row);
        return r;
}

int orch_audit_store_anchor(orch_audit_store *st, int64_t *seq, char hash[65], hd_error *err)
{
        AUDIT_LOCKED(st);

        *seq = 0;
        hash[0] = '\0';
        return anchor_locked(st, seq, hash, err);
}

int orch_audit_store_head(orch_audit_store *st, int64_t *seq, char hash[65], hd_error *err)
{
        AUDIT_LOCKED(st);
        orch_audit_row row = {0};
        int r = one_row(st, "SELECT seq, NULL, hash FROM audit_log ORDER BY seq DESC LIMIT 1", NULL, 0, &row,
                        "reading the last record", err);

        *seq = 0;
        hash[0] = '\0';
        if (r == 0) {
                *seq = row.seq;
                memcpy(hash, row.hash, 65);
        }
        orch_audit_row_clear(&row);
        if (r == 1)
                r = anchor_locked(st, seq, hash, err) < 0 ? -1 : 0;
        return r;
}

int orch_audit_store_get(orch_audit_store *st, int64_t seq, orch_audit_row *out, hd_error *err)
{
        AUDIT_LOCKED(st);
        int r = one_row(st, "SELECT seq, body, hash FROM audit_log WHERE seq = ?", NULL, seq, out,
                        "reading a record", err);

        return r == 1 ? hd_error_set(err, HD_E_NOT_FOUND, "no audit record %lld", (long long)seq) : r;
}

int orch_audit_store_last_before(orch_audit_store *st, const char *time, orch_audit_row *out, hd_error *err)
{
        AUDIT_LOCKED(st);

        return one_row(st,
                       "SELECT seq, body, hash FROM audit_log WHERE json_extract(body, '$.time') < ?"
                       " ORDER BY seq DESC LIMIT 1",
                       time, 0, out, "finding records to prune", err);
}

int orch_audit_store_list(orch_audit_store *st, const orch_audit_query *q, orch_audit_rows *out, hd_error *err)
{
        AUDIT_LOCKED(st);
        _cleanup_buf_ hd_buf sql = HD_BUF_INIT;
        _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
        size_t action_len = q->action ? strlen(q->action) : 0;
        bool prefix = action_len && q->action[action_len - 1] == '*';
        int rc;

        /* Every filter is a fixed clause with a numbered parameter: nothing from
         * the request is ever put into the SQL text. */
        hd_buf_append(&sql, "SELECT seq, body, hash FROM audit_log WHERE 1");
        if (q->actor)
                hd_buf_append(&sql, " AND (json_extract(body, '$.actor.user') = ?1"
                                    " OR json_extract(body, '$.actor.on_behalf_of') = ?1)");
        if (q->action)
                hd_buf_append(&sql, prefix ? " AND substr(json_extract(body, '$.action'), 1, length(?2)) = ?2"
                                           : " AND json_extract(body, '$.action') = ?2");
        if (q->resource_type)
                hd_buf_append(&sql, " AND json_extract(body, '$.resource.type') = ?3");
        if (q->resource_type && q->resource_id)
                hd_buf_append(&sql, " AND json_extract(body, '$.resource.id') = ?4");
        if (q->since)
                hd_buf_append(&sql, " AND json_extract(body, '$.time') >= ?5");
        if (q->until)
                hd_buf_append(&sql, " AND json_extract(body, '$.time') < ?6");
        if (q->after)
                hd_buf_append(&sql, " AND seq > ?7");
        if (q->before)
                hd_buf_append(&sql, " AND seq < ?8");
        hd_buf_appendf(&sql, " ORDER BY seq %s LIMIT ?9", q->newest_first ? "DESC" : "ASC");
        stmt = prepare(st, sql.data, "listing records", err);
        if (!stmt)
                return -1;
        if (q->actor)
                sqlite3_bind_text(stmt, 1, q->actor, -1, SQLITE_STATIC);
        if (q->action)
                sqlite3_bind_text(stmt, 2, q->action, (int)(prefix ? action_len - 1 : action_len), SQLITE_STATIC);
        if (q->resource_type)
                sqlite3_bind_text(stmt, 3, q->resource_type, -1, SQLITE_STATIC);
        if (q->resource_type && q->resource_id)
                sqlite3_bind_text(stmt, 4, q->resource_id, -1, SQLITE_STATIC);
        if (q->since)
                sqlite3_bind_text(stmt, 5, q->since, -1, SQLITE_STATIC);
        if (q->until)
                sqlite3_bind_text(stmt, 6, q->until, -1, SQLITE_STATIC);
        if (q->after)
                sqlite3_bind_int64(stmt, 7, q->after);
        if (q->before)
                sqlite3_bind_int64(stmt, 8, q->before);
        sqlite3_bind_int64(stmt, 9, (sqlite3_int64)(q->limit ? q->limit : 1));
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                out->items = realloc(out->items, (out->count + 1) * sizeof(*out->items));
                if (!out->items)
                        abort();
                memset(&out->items[out->count], 0, sizeof(*out->items));
                read_row(stmt, &out->items[out->count++]);
        }
        return rc == SQLITE_DONE ? 0 : db_error(st, "listing records", err);
}

/* The steps of an append, inside its transaction. */
static int append_tx(orch_audit_store *st, const orch_audit_row *row, int64_t prune_seq, const char *prune_hash,
                     int64_t now, hd_error *err)
{
        const char *op = "appending a record";
        _cleanup_stmt_ sqlite3_stmt *ins = prepare(st, "INSERT INTO audit_log (seq, body, hash) VALUES (?, ?, ?)",
                                                   op, err);
        _cleanup_stmt_ sqlite3_stmt *anchor = NULL, *del = NULL;
        orch_audit_row through = {0};
        int rc, r;

        if (!ins)
                return -1;
        sqlite3_bind_int64(ins, 1, row->seq);
        sqlite3_bind_text(ins, 2, row->body, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, row->hash, -1, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                return hd_error_set(err, HD_E_CONFLICT, "audit store: record %lld already exists",
                                    (long long)row->seq);
        if (rc != SQLITE_DONE)
                return db_error(st, op, err);
        if (prune_seq <= 0)
                return 0;
        op = "pruning";
        r = one_row(st, "SELECT seq, NULL, hash FROM audit_log WHERE seq = ?", NULL, prune_seq, &through, op, err);
        if (r == 0 && strcmp(through.hash, prune_hash) != 0)
                r = hd_error_set(err, HD_E_CONFLICT, "audit store: record %lld changed before it was pruned",
                                 (long long)prune_seq);
        else if (r == 1)
                r = hd_error_set(err, HD_E_NOT_FOUND, "audit store: no record %lld to prune through",
                                 (long long)prune_seq);
        orch_audit_row_clear(&through);
        if (r < 0)
                return -1;
        /* The anchor first: the delete trigger lets only records up to it go. */
        anchor = prepare(st,
                         "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, ?1, ?2, ?3)"
                         " ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2, pruned_at = ?3",
                         op, err);
        if (!anchor)
                return -1;
        sqlite3_bind_int64(anchor, 1, prune_seq);
        sqlite3_bind_text(anchor, 2, prune_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(anchor, 3, now);
        if (sqlite3_step(anchor) != SQLITE_DONE)
                return db_error(st, op, err);
        del = prepare(st, "DELETE FROM audit_log WHERE seq <= ?", op, err);
        if (!del)
                return -1;
        sqlite3_bind_int64(del, 1, prune_seq);
        return sqlite3_step(del) == SQLITE_DONE ? 0 : db_error(st, op, err);
}

int orch_audit_store_append(orch_audit_store *st, const orch_audit_row *row, int64_t prune_seq,
                            const char *prune_hash, int64_t now, orch_audit_hook hook, void *ctx,
                            hd_error *err)
{
        AUDIT_LOCKED(st);
        int r;

        if (exec(st, "BEGIN IMMEDIATE", "appending a record", err) < 0)
                return -1;
        r = append_tx(st, row, prune_seq, prune_hash, now, err);
        if (r == 0 && hook)
                r = hook(ctx, err);
        if (r == 0 && exec(st, "COMMIT", "committing a record", err) == 0)
                return 0;
        /* Harmless when sqlite already rolled back by itself. */
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
}

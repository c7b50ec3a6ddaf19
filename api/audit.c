/* audit.c — the audit log: its JSONL file, its rows in the database, the
 * chain's head, the records waiting to be written, and retention.
 *
 * One mutex serializes every append, so the chain is one line whatever the
 * MHD thread pool does. An append is one database transaction inside which
 * the line is written to the file and fdatasync'ed; a failure on either side
 * undoes both (the file is cut back to where it was). A record that cannot
 * be written waits in memory and the gate (api_audit_ready) refuses
 * mutating requests until it is written: docs/audit.md, "Fail closed". */
#include "api/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX 1024                /* records waiting in memory; later ones are counted as lost */
#define RECORD_MAX (64 * 1024)        /* bytes of a body; a larger diff is left out */
#define RESERVE_BYTES (256 * 1024)    /* room kept free past the file's end, where fallocate can */
#define TAIL_MAX (2 * RECORD_MAX)     /* bytes read back to find the file's last record */
#define PRUNE_INTERVAL_S 3600

struct api_audit {
        pthread_mutex_t lock;
        char *path;
        int fd;                       /* -1 until the file could be opened */
        dev_t dev;
        ino_t ino;
        orch_audit_store *store;
        int64_t head_seq;             /* 0: the log is empty */
        char head_hash[API_AUDIT_HASH_LEN + 1];
        char problem[HD_ERRMSG_MAX];  /* the file disagrees with the database: refuse until moved aside */
        char told[HD_ERRMSG_MAX];     /* the last reason the daemon's log was given ("" while all is well) */
        json_t *queue[QUEUE_MAX];
        size_t nqueue;
        unsigned long long lost;
        void (*alert)(const char *line);
        /* retention */
        unsigned retention_days;
        pthread_t pruner;
        bool pruner_running, stopping;
        pthread_cond_t wake;
};

static void unlockp(pthread_mutex_t **m)
{
        if (*m)
                pthread_mutex_unlock(*m);
}

#define LOCKED(a)                                                 \
        _cleanup_(unlockp) pthread_mutex_t *held_ = &(a)->lock; \
        pthread_mutex_lock(held_)

static void alertf(api_audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void alertf(api_audit *a, const char *fmt, ...)
{
        _cleanup_free_ char *line = NULL;
        va_list ap;

        if (!a->alert)
                return;
        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                line = NULL;
        va_end(ap);
        if (line)
                a->alert(line);
}

int64_t api_audit_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void api_audit_time(int64_t ms, char buf[32])
{
        time_t t = (time_t)(ms / 1000);
        char day[64];
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, 32, "%.19s.%03uZ", day, (unsigned)(ms % 1000) % 1000);
}

json_t *api_audit_internal_record(const char *action, json_t *diff)
{
        char now[32];

        api_audit_time(api_audit_now_ms(), now);
        return json_pack("{s:i,s:s,s:n,s:{s:s,s:s,s:n,s:n,s:[]},s:s,s:n,s:s,s:{s:s,s:n},s:i,s:n,s:n,s:o}", "v", 1,
                         "time", now, "request_id", "actor", "user", "hostd", "method", "internal", "credential",
                         "on_behalf_of", "roles", "source", "hostd", "user_agent", "action", action, "resource",
                         "type", "audit", "id", "outcome", 200, "error", "query", "diff", diff);
}

orch_audit_store *api_audit_store(api_audit *a)
{
        return a->store;
}

/* ---- the file ------------------------------------------------------------------- */

/* Write all of buf at the file's end. */
static int write_all(int fd, const char *buf, size_t len)
{
        while (len) {
                ssize_t n = write(fd, buf, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0) {
                        errno = ENOSPC;
                        return -1;
                }
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Append one line, on disk before returning; on failure the file is cut
 * back to where it was. *off gets that place. */
static int append_line(api_audit *a, const char *line, off_t *off, hd_error *err)
{
        struct stat st;
        int e;

        if (fstat(a->fd, &st) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "audit file %s", a->path);
        *off = st.st_size;
        if (write_all(a->fd, line, strlen(line)) == 0 && fdatasync(a->fd) == 0)
                return 0;
        e = errno;
        if (ftruncate(a->fd, *off) == 0)
                fdatasync(a->fd);
        return hd_error_errno(err, HD_E_IO, e, "audit file %s: cannot append", a->path);
}

/* The last complete line of the file (caller frees), or NULL when it has
 * none. A last line without its newline is what a crash in the middle of a
 * write leaves: that record was never committed, so it is cut off. */
static int read_last_line(api_audit *a, char **line, hd_error *err)
{
        struct stat st;
        _cleanup_free_ char *buf = NULL;
        size_t len, start;
        off_t from;
        ssize_t n;

        *line = NULL;
        if (fstat(a->fd, &st) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "audit file %s", a->path);
        if (st.st_size == 0)
                return 0;
        len = st.st_size < TAIL_MAX ? (size_t)st.st_size : TAIL_MAX;
        from = st.st_size - (off_t)len;
        buf = hd_malloc0(len + 1);
        n = pread(a->fd, buf, len, from);
        if (n != (ssize_t)len)
                return hd_error_errno(err, HD_E_IO, n < 0 ? errno : EIO, "audit file %s: cannot read its end",
                                      a->path);
        if (buf[len - 1] != '\n') {
                char *nl = memrchr(buf, '\n', len);
                off_t keep = nl ? from + (nl - buf) + 1 : from;

                if (!nl && from > 0)
                        return hd_error_set(err, HD_E_IO, "audit file %s: its last line is longer than %d bytes",
                                            a->path, TAIL_MAX);
                if (ftruncate(a->fd, keep) < 0)
                        return hd_error_errno(err, HD_E_IO, errno, "audit file %s: cannot cut off a partial line",
                                              a->path);
                alertf(a, "audit: cut %lld bytes of a partly written record off the end of %s",
                       (long long)(st.st_size - keep), a->path);
                len = (size_t)(keep - from);
                if (len == 0)
                        return 0;
        }
        buf[len - 1] = '\0';
        start = 0;
        for (size_t i = len - 1; i > 0; i--)
                if (buf[i - 1] == '\n') {
                        start = i;
                        break;
                }
        if (start == 0 && from > 0)
                return hd_error_set(err, HD_E_IO, "audit file %s: its last line is longer than %d bytes", a->path,
                                    TAIL_MAX);
        *line = hd_strdup(buf + start);
        return 0;
}

/* Append the database's records after seq to the file (the file lost them:
 * an older copy was put back). */
static int replay_into_file(api_audit *a, int64_t seq, hd_error *err)
{
        long long n = 0;

        for (int64_t s = seq + 1; s <= a->head_seq; s++) {
                orch_audit_row row = {0};
                _cleanup_free_ char *line = NULL;
                off_t off;
                int r = orch_audit_store_get(a->store, s, &row, err);

                if (r == 0) {
                        line = api_audit_line(row.body, row.hash);
                        r = append_line(a, line, &off, err);
                }
                orch_audit_row_clear(&row);
                if (r < 0)
                        return -1;
                n++;
        }
        alertf(a, "audit: %s ended at record %lld; appended the %lld records after it from the database", a->path,
               (long long)seq, n);
        return 0;
}

/* Reconcile a file just opened with the database's head. */
static int sync_file(api_audit *a, hd_error *err)
{
        _cleanup_free_ char *line = NULL, *body = NULL;
        _cleanup_(json_decrefp) json_t *rec = NULL;
        char hash[API_AUDIT_HASH_LEN + 1], got[API_AUDIT_HASH_LEN + 1];
        const char *prev;
        int64_t seq;

        if (read_last_line(a, &line, err) < 0)
                return -1;
        if (!line)
                return 0; /* a new (or rotated) file continues the chain */
        if (api_audit_split_line(line, strlen(line), &body, hash) < 0 ||
            !(rec = json_loads(body, JSON_REJECT_DUPLICATES, NULL)) ||
            !json_is_integer(json_object_get(rec, "seq")))
                return hd_error_set(err, HD_E_IO, "audit file %s: its last line is not an audit record", a->path);
        seq = json_integer_value(json_object_get(rec, "seq"));
        prev = json_string_value(json_object_get(rec, "prev_hash"));
        api_sha256_hex(body, strlen(body), got);
        if (seq == a->head_seq && strcmp(hash, a->head_hash) == 0)
                return 0;
        if (seq == a->head_seq + 1 && prev && strcmp(got, hash) == 0 &&
            strcmp(prev, a->head_seq ? a->head_hash : API_AUDIT_GENESIS) == 0) {
                /* hostd stopped between the file's write and the commit. */
                orch_audit_row row = {.seq = seq, .body = body};

                memcpy(row.hash, hash, sizeof(row.hash));
                if (orch_audit_store_append(a->store, &row, 0, NULL, 0, NULL, NULL, err) < 0)
                        return -1;
                a->head_seq = seq;
                memcpy(a->head_hash, hash, sizeof(hash));
                alertf(a, "audit: record %lld was in %s but not in the database (hostd stopped between both "
                       "writes): added to the database", (long long)seq, a->path);
                return 0;
        }
        if (seq < a->head_seq) {
                orch_audit_row row = {0};
                bool same = orch_audit_store_get(a->store, seq, &row, NULL) == 0 && strcmp(row.hash, hash) == 0;

                orch_audit_row_clear(&row);
                if (same)
                        return replay_into_file(a, seq, err);
        }
        return hd_error_set(err, HD_E_IO,
                            "audit file %s ends with record %lld (hash %.16s...), which does not continue the "
                            "database's log (last record %lld): move the file aside, keeping it as evidence, "
                            "and hostd starts a new one",
                            a->path, (long long)seq, hash, (long long)a->head_seq);
}

/* Make sure the file at a->path is open for appending, following a rotation
 * (a new file at the path) and noticing one that became unwritable; reserve
 * room past its end where the file system can. */
static int ensure_file(api_audit *a, hd_error *err)
{
        int fd = open(a->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;

        if (fd < 0 && errno == ENOENT)
                fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "audit file %s: cannot open it for appending", a->path);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return hd_error_set(err, HD_E_IO, "audit file %s is not a regular file", a->path);
        }
        if (a->fd >= 0 && st.st_dev == a->dev && st.st_ino == a->ino) {
                close(fd);
        } else {
                int old = a->fd;

                a->fd = fd;
                a->dev = st.st_dev;
                a->ino = st.st_ino;
                if (old >= 0)
                        close(old);
                a->problem[0] = '\0';
                if (sync_file(a, err) < 0) {
                        snprintf(a->problem, sizeof(a->problem), "%s", err ? err->message : "audit file problem");
                        return -1;
                }
        }
        if (a->problem[0])
                return hd_error_set(err, HD_E_IO, "%s", a->problem);
        if (fallocate(a->fd, FALLOC_FL_KEEP_SIZE, st.st_size, RESERVE_BYTES) < 0 && errno != EOPNOTSUPP &&
            errno != ENOSYS)
                return hd_error_errno(err, HD_E_IO, errno, "audit file %s: cannot reserve room for records",
                                      a->path);
        return 0;
}

/* ---- appending --------------------------------------------------------------------- */

typedef struct write_ctx {
        api_audit *a;
        const char *line;
        off_t off;
        bool written;
} write_ctx;

/* The file's part of an append, inside the database's transaction. */
static int write_hook(void *ctx, hd_error *err)
{
        write_ctx *w = ctx;

        if (append_line(w->a, w->line, &w->off, err) < 0)
                return -1;
        w->written = true;
        return 0;
}

/* Seal rec as the next record and write it to both places, or to neither. */
static int write_record(api_audit *a, json_t *rec, int64_t prune_seq, const char *prune_hash, hd_error *err)
{
        _cleanup_free_ char *body = NULL, *line = NULL;
        char hash[API_AUDIT_HASH_LEN + 1];
        orch_audit_row row = {0};
        write_ctx w = {.a = a};
        const char *prev = a->head_seq ? a->head_hash : API_AUDIT_GENESIS;

        if (ensure_file(a, err) < 0)
                return -1;
        body = api_audit_seal(rec, a->head_seq + 1, prev, hash);
        if (body && strlen(body) > RECORD_MAX) {
                json_object_set_new(rec, "diff", json_pack("{s:s}", "omitted", "larger than the record limit"));
                free(body);
                body = api_audit_seal(rec, a->head_seq + 1, prev, hash);
        }
        if (!body)
                return hd_error_set(err, HD_E_INTERNAL, "audit: a record cannot be written as JSON");
        line = api_audit_line(body, hash);
        w.line = line;
        row.seq = a->head_seq + 1;
        row.body = body;
        memcpy(row.hash, hash, sizeof(hash));
        if (orch_audit_store_append(a->store, &row, prune_seq, prune_hash, time(NULL), write_hook, &w, err) < 0) {
                /* The commit failed after the line was written: take it back. */
                if (w.written && ftruncate(a->fd, w.off) == 0)
                        fdatasync(a->fd);
                json_object_del(rec, "seq");
                json_object_del(rec, "prev_hash");
                return -1;
        }
        a->head_seq = row.seq;
        memcpy(a->head_hash, hash, sizeof(hash));
        return 0;
}

/* Write the waiting records, oldest first, then a record of the ones lost. */
static int flush(api_audit *a, hd_error *err)
{
        while (a->nqueue) {
                if (write_record(a, a->queue[0], 0, NULL, err) < 0)
                        return -1;
                json_decref(a->queue[0]);
                memmove(a->queue, a->queue + 1, (--a->nqueue) * sizeof(a->queue[0]));
        }
        if (a->lost) {
                _cleanup_(json_decrefp) json_t *rec = api_audit_internal_record(
                        "hostd audit.lost", json_pack("{s:I}", "lost_records", (json_int_t)a->lost));

                if (write_record(a, rec, 0, NULL, err) < 0)
                        return -1;
                a->lost = 0;
        }
        return 0;
}

/* Tell the daemon's log when the log becomes unavailable, when the reason
 * changes, and when it is back; not once per refused request. */
static void tell(api_audit *a, const hd_error *err)
{
        const char *now = err ? err->message : "";

        if (strcmp(now, a->told) == 0)
                return;
        if (*now)
                alertf(a, "audit log unavailable, mutating requests are refused until it is back: %s", now);
        else
                alertf(a, "audit log available again (%s)", a->path);
        snprintf(a->told, sizeof(a->told), "%s", now);
}

int api_audit_append(api_audit *a, json_t *rec, hd_error *err)
{
        LOCKED(a);
        _cleanup_free_ char *text = NULL;
        hd_error local = {0};

        if (!err)
                err = &local;

        if (a->nqueue == QUEUE_MAX) {
                a->lost++;
                alertf(a, "audit: %zu records wait already; one more is lost (counted in a later record)",
                       a->nqueue);
                json_decref(rec);
        } else {
                a->queue[a->nqueue++] = rec;
        }
        if (flush(a, err) == 0) {
                tell(a, NULL);
                return 0;
        }
        tell(a, err);
        /* Say what could not be recorded where an operator will see it. */
        text = rec && a->nqueue && a->queue[a->nqueue - 1] == rec ? api_audit_canonical(rec) : NULL;
        alertf(a, "audit: %zu record%s not yet written wait%s in memory%s%s", a->nqueue, a->nqueue == 1 ? "" : "s",
               a->nqueue == 1 ? "s" : "", text ? "; the newest: " : "", text ? text : "");
        return -1;
}

int api_audit_ready(api_audit *a, hd_error *err)
{
        LOCKED(a);
        hd_error local = {0};

        if (!err)
                err = &local;
        if (ensure_file(a, err) < 0 || orch_audit_store_check(a->store, err) < 0 || flush(a, err) < 0) {
                tell(a, err);
                return -1;
        }
        tell(a, NULL);
        return 0;
}

/* ---- retention -------------------------------------------------------------------- */

long long api_audit_prune(api_audit *a, int64_t cutoff_ms, hd_error *err)
{
        LOCKED(a);
        _cleanup_(json_decrefp) json_t *rec = NULL;
        hd_error local = {0};
        orch_audit_row last = {0};
        int64_t anchor_seq = 0;
        char anchor_hash[API_AUDIT_HASH_LEN + 1], cutoff[32];
        long long n;
        int r;

        if (!err)
                err = &local;
        api_audit_time(cutoff_ms, cutoff);
        r = orch_audit_store_last_before(a->store, cutoff, &last, err);
        if (r != 0)
                return r < 0 ? -1 : 0;
        if (orch_audit_store_anchor(a->store, &anchor_seq, anchor_hash, err) < 0) {
                orch_audit_row_clear(&last);
                return -1;
        }
        n = (long long)(last.seq - anchor_seq);
        rec = api_audit_internal_record(
                "hostd audit.prune",
                json_pack("{s:I,s:s,s:I,s:s,s:I}", "pruned_through_seq", (json_int_t)last.seq, "pruned_through_hash",
                          last.hash, "previous_anchor_seq", (json_int_t)anchor_seq, "cutoff", cutoff,
                          "retention_days", (json_int_t)a->retention_days));
        r = flush(a, err) < 0 ? -1 : write_record(a, rec, last.seq, last.hash, err);
        orch_audit_row_clear(&last);
        return r < 0 ? -1 : n;
}

static void *pruner(void *arg)
{
        api_audit *a = arg;

        pthread_mutex_lock(&a->lock);
        while (!a->stopping) {
                struct timespec until;
                hd_error err = {0};
                long long n;

                pthread_mutex_unlock(&a->lock);
                n = api_audit_prune(a, api_audit_now_ms() - (int64_t)a->retention_days * 86400 * 1000, &err);
                if (n < 0)
                        alertf(a, "audit: retention could not prune (tried again in an hour): %s", err.message);
                else if (n > 0)
                        alertf(a, "audit: retention pruned %lld records older than %u days from the database", n,
                               a->retention_days);
                pthread_mutex_lock(&a->lock);
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += PRUNE_INTERVAL_S;
                while (!a->stopping && pthread_cond_timedwait(&a->wake, &a->lock, &until) != ETIMEDOUT)
                        ;
        }
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

/* ---- open, close ------------------------------------------------------------------ */

api_audit *api_audit_open(const api_audit_config *cfg, hd_error *err)
{
        _cleanup_free_ char *dir = NULL;
        hd_error ferr = {0};
        api_audit *a;

        if (!cfg->file || cfg->file[0] != '/' || !cfg->db) {
                hd_error_set(err, HD_E_INVALID, "the audit log needs an absolute file path and the database");
                return NULL;
        }
        a = hd_malloc0(sizeof(*a));
        dir = hd_strdup(cfg->file);

        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->wake, NULL);
        a->fd = -1;
        a->path = hd_strdup(cfg->file);
        a->alert = cfg->alert;
        a->retention_days = cfg->retention_days;
        a->store = orch_audit_store_open(cfg->db, err);
        if (!a->store || orch_audit_store_head(a->store, &a->head_seq, a->head_hash, err) < 0) {
                api_audit_close(a);
                return NULL;
        }
        if (hd_mkdir_p(dirname(dir), 0750, &ferr) < 0 || ensure_file(a, &ferr) < 0)
                tell(a, &ferr);
        if (a->retention_days && pthread_create(&a->pruner, NULL, pruner, a) == 0)
                a->pruner_running = true;
        return a;
}

void api_audit_close(api_audit *a)
{
        if (!a)
                return;
        if (a->pruner_running) {
                pthread_mutex_lock(&a->lock);
                a->stopping = true;
                pthread_cond_signal(&a->wake);
                pthread_mutex_unlock(&a->lock);
                pthread_join(a->pruner, NULL);
        }
        if (a->nqueue)
                alertf(a, "audit: %zu records still waited to be written when hostd stopped; they are lost",
                       a->nqueue);
        for (size_t i = 0; i < a->nqueue; i++)
                json_decref(a->queue[i]);
        if (a->fd >= 0)
                close(a->fd);
        orch_audit_store_close(a->store);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        free(a->path);
        free(a);
}

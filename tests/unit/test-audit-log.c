/* test-audit-log.c — the audit log (api/audit.c) on a real database and
 * file: records in both places, alike and chained; the fail-closed gate
 * with the file replaced by a directory; a record that waits in memory
 * until the file is back; crash recovery (a record only in the file, a file
 * behind the database, a half-written line, a foreign file); retention's
 * anchor and the append-only triggers; concurrent appends staying one
 * chain. Also what a request's record says and what redaction keeps
 * (fixture pairs tests/fixtures/audit/<case>.json -> .out). */
#include "api/audit.h"
#include "orchestrator/store.h"
#include "tests/fixture.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

static char dir[] = "/tmp/hostd-test-audit-XXXXXX";
static char *db, *file;
static char alerts[8192];

static void on_alert(const char *line)
{
        snprintf(alerts + strlen(alerts), sizeof(alerts) - strlen(alerts), "%s\n", line);
}

static api_audit *open_log(void)
{
        api_audit_config cfg = {.file = file, .db = db, .alert = on_alert};
        hd_error err = {0};
        api_audit *a = api_audit_open(&cfg, &err);

        if (!a)
                printf("# %s\n", err.message);
        return a;
}

static int append(api_audit *a, const char *action)
{
        return api_audit_append(a, api_audit_internal_record(action, json_object()), NULL);
}

/* The lines of the files (NULL-terminated, in order), verified as one log. */
static long long verify_files(const char *const *paths, int64_t anchor_seq, const char *anchor_hash,
                              api_audit_verifier *out)
{
        api_audit_verifier v;

        api_audit_verify_start(&v, anchor_seq, anchor_hash);
        for (size_t i = 0; paths[i]; i++) {
                _cleanup_fclose_ FILE *f = fopen(paths[i], "re");
                _cleanup_free_ char *line = NULL;
                size_t cap = 0;
                ssize_t n;

                while (f && (n = getline(&line, &cap, f)) > 0)
                        api_audit_verify_line(&v, line, line[n - 1] == '\n' ? (size_t)n - 1 : (size_t)n);
        }
        if (out)
                *out = v;
        return v.bad ? -1 : v.count;
}

static long long verify_file(api_audit_verifier *out)
{
        return verify_files((const char *[]){file, NULL}, 0, NULL, out);
}

/* The database's records from its anchor, verified the way wsctl does. */
static long long verify_db(api_audit *a, api_audit_verifier *out)
{
        orch_audit_query q = {.limit = 100000};
        orch_audit_rows rows = {0};
        api_audit_verifier v;
        char hash[65];
        int64_t seq = 0;
        bool anchored = orch_audit_store_anchor(api_audit_store(a), &seq, hash, NULL) == 0;

        api_audit_verify_start(&v, seq, anchored ? hash : NULL);
        orch_audit_store_list(api_audit_store(a), &q, &rows, NULL);
        for (size_t i = 0; i < rows.count; i++) {
                json_t *o = json_loads(rows.items[i].body, 0, NULL);

                json_object_set_new(o, "hash", json_string(rows.items[i].hash));
                api_audit_verify_object(&v, o);
                json_decref(o);
        }
        orch_audit_rows_free(&rows);
        if (out)
                *out = v;
        return v.bad ? -1 : v.count;
}

static char *read_text(const char *path)
{
        char *text = NULL;

        if (hd_read_file(path, 64 << 20, &text, NULL, NULL) < 0)
                return hd_strdup("");
        return text;
}

static size_t count_lines(void)
{
        _cleanup_free_ char *text = read_text(file);
        size_t n = 0;

        for (char *p = text; *p; p++)
                n += *p == '\n';
        return n;
}

static void append_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "ae");

        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

/* Run SQL on the database with its own connection: 0 or sqlite's message. */
static const char *raw_sql(const char *sql)
{
        static char msg[256];
        sqlite3 *h = NULL;
        char *e = NULL;
        int rc;

        sqlite3_open(db, &h);
        rc = sqlite3_exec(h, sql, NULL, NULL, &e);
        snprintf(msg, sizeof(msg), "%s", e ? e : "");
        sqlite3_free(e);
        sqlite3_close(h);
        return rc == SQLITE_OK ? NULL : msg;
}

/* ---- the log ---------------------------------------------------------------------------- */

static void test_append(void)
{
        api_audit *a = open_log();
        api_audit_verifier fv, dv;
        struct stat st;

        CHECK(a != NULL, "the audit log opens on a migrated database");
        if (!a)
                return;
        CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600, "the JSONL file is created with mode 0600");
        CHECK(append(a, "test one") == 0 && append(a, "test two") == 0 && append(a, "test three") == 0,
              "records are appended");
        CHECK(verify_file(&fv) == 3 && verify_db(a, &dv) == 3 && strcmp(fv.prev, dv.prev) == 0,
              "the file and the database hold the same three records, chained from genesis");
        CHECK(api_audit_ready(a, NULL) == 0, "the gate is open while both can be written");
        api_audit_close(a);
}

static void test_fail_closed(void)
{
        _cleanup_free_ char *aside = hd_asprintf("%s.1", file);
        api_audit *a = open_log();
        hd_error err = {0};
        orch_audit_row row = {0};
        api_audit_verifier v;

        if (!a)
                return;
        rename(file, aside);
        mkdir(file, 0700);
        alerts[0] = '\0';
        CHECK(api_audit_ready(a, &err) < 0 && strstr(err.message, file),
              "with a directory where the file was, the gate refuses and names the file");
        CHECK(append(a, "test while broken") < 0 && strstr(alerts, "waits in memory") &&
                      strstr(alerts, "test while broken"),
              "a record that cannot be written waits in memory, and the daemon's log shows it");
        CHECK(orch_audit_store_get(api_audit_store(a), 4, &row, NULL) < 0,
              "it is in neither place: the database did not commit without the file");
        CHECK(api_audit_ready(a, NULL) < 0, "the gate stays shut while a record waits");
        CHECK(strstr(alerts, "audit log unavailable") && strstr(alerts, file) &&
                      strstr(strstr(alerts, "audit log unavailable") + 1, "audit log unavailable") == NULL,
              "the daemon's log is told why once, not once per refusal");
        rmdir(file);
        CHECK(api_audit_ready(a, NULL) == 0 && strstr(alerts, "available again"),
              "once the path is usable again the gate opens, and the daemon's log hears it");
        CHECK(orch_audit_store_get(api_audit_store(a), 4, &row, NULL) == 0 && strstr(row.body, "test while broken"),
              "and the waiting record was written first, as record 4");
        orch_audit_row_clear(&row);
        CHECK(verify_file(&v) < 0 && v.bad_seq == 4 && strstr(v.why, "anchor"),
              "the new file starts at record 4: alone it does not verify from genesis");
        CHECK(verify_files((const char *[]){aside, file, NULL}, 0, NULL, NULL) == 4,
              "the rotated file and the new one verify as one log");
        CHECK(verify_files((const char *[]){file, NULL}, 3, orch_audit_store_get(api_audit_store(a), 3, &row, NULL) == 0 ? row.hash : "", NULL) == 1,
              "the new file alone verifies with the anchor of record 3");
        orch_audit_row_clear(&row);
        api_audit_close(a);
        /* Put the whole log back in one file for what follows. */
        {
                _cleanup_free_ char *old = read_text(aside), *cur = read_text(file), *all = hd_asprintf("%s%s", old, cur);

                hd_write_file_atomic(file, all, strlen(all), 0600, NULL);
                unlink(aside);
        }
}

static void test_recovery(void)
{
        _cleanup_free_ char *foreign = NULL, *aside = hd_asprintf("%s.foreign", file);
        _cleanup_free_ char *body = NULL, *line = NULL, *all = NULL;
        char hash[65], head[65];
        int64_t seq;
        orch_audit_row row = {0};
        api_audit *a;
        json_t *rec;
        hd_error err = {0};

        /* hostd stopped after the file's write and before the commit. */
        a = open_log();
        if (!a)
                return;
        orch_audit_store_head(api_audit_store(a), &seq, head, NULL);
        api_audit_close(a);
        rec = api_audit_internal_record("test only in the file", json_object());
        body = api_audit_seal(rec, seq + 1, head, hash);
        line = api_audit_line(body, hash);
        json_decref(rec);
        append_text(file, line);
        alerts[0] = '\0';
        a = open_log();
        CHECK(a && orch_audit_store_get(api_audit_store(a), seq + 1, &row, NULL) == 0 && strcmp(row.hash, hash) == 0 &&
                      strstr(alerts, "added to the database"),
              "a record only in the file (a crash between both writes) is added to the database at open");
        orch_audit_row_clear(&row);
        api_audit_close(a);

        /* An older copy of the file put back: the database's records are replayed into it. */
        all = read_text(file);
        *(strchr(strchr(all, '\n') + 1, '\n') + 1) = '\0';
        hd_write_file_atomic(file, all, strlen(all), 0600, NULL);
        a = open_log();
        CHECK(a && count_lines() == (size_t)seq + 1 && verify_file(NULL) == seq + 1,
              "a file that lost its last records gets them back from the database");
        api_audit_close(a);

        /* A crash in the middle of a write leaves half a line: it is cut off. */
        append_text(file, "{\"action\":\"half a rec");
        alerts[0] = '\0';
        a = open_log();
        CHECK(a && verify_file(NULL) == seq + 1 && strstr(alerts, "partly written"),
              "a half-written last line is cut off at open, and the daemon's log says so");
        CHECK(a && append(a, "test after the cut") == 0 && verify_file(NULL) == seq + 2,
              "and the log goes on after it");
        api_audit_close(a);

        /* A file from another database (or another hostd) at the path. */
        rename(file, aside);
        rec = api_audit_internal_record("test foreign", json_object());
        free(body);
        body = api_audit_seal(rec, 1, API_AUDIT_GENESIS, hash);
        foreign = api_audit_line(body, hash);
        json_decref(rec);
        hd_write_file_atomic(file, foreign, strlen(foreign), 0600, NULL);
        a = open_log();
        CHECK(a && api_audit_ready(a, &err) < 0 && strstr(err.message, "does not continue") &&
                      strstr(err.message, "move the file aside"),
              "a file whose last record the database does not know shuts the gate, saying what to do");
        unlink(file);
        CHECK(a && api_audit_ready(a, NULL) == 0 && append(a, "test new file") == 0,
              "once it is moved aside, a new file is started");
        api_audit_close(a);
        {
                _cleanup_free_ char *old = read_text(aside), *cur = read_text(file);
                _cleanup_free_ char *joined = hd_asprintf("%s%s", old, cur);

                hd_write_file_atomic(file, joined, strlen(joined), 0600, NULL);
                unlink(aside);
        }
        CHECK(verify_file(NULL) == seq + 3, "the log is whole again");
}

/* ---- retention ------------------------------------------------------------------------------ */

static void test_prune(void)
{
        struct timespec pause = {0, 5 * 1000 * 1000};
        api_audit *a = open_log();
        orch_audit_row last = {0}, prune = {0};
        char hash[65], anchor_hash[65];
        int64_t head = 0, anchor = 0, cutoff;
        json_t *diff, *body;
        api_audit_verifier v;
        long long n;

        if (!a)
                return;
        orch_audit_store_head(api_audit_store(a), &head, hash, NULL);
        orch_audit_store_get(api_audit_store(a), head, &last, NULL);
        nanosleep(&pause, NULL);
        cutoff = api_audit_now_ms();
        nanosleep(&pause, NULL);
        append(a, "test kept one");
        append(a, "test kept two");
        n = api_audit_prune(a, cutoff, NULL);
        CHECK(n == head, "retention prunes every record written before the cutoff");
        CHECK(orch_audit_store_anchor(api_audit_store(a), &anchor, anchor_hash, NULL) == 0 && anchor == head &&
                      strcmp(anchor_hash, last.hash) == 0,
              "the anchor is the seq and hash of the last record pruned");
        CHECK(orch_audit_store_get(api_audit_store(a), head, &prune, NULL) < 0 &&
                      orch_audit_store_get(api_audit_store(a), head + 3, &prune, NULL) == 0,
              "the old records are gone from the database and a record of the prune follows the kept ones");
        body = json_loads(prune.body, 0, NULL);
        diff = json_object_get(body, "diff");
        CHECK(strcmp(json_string_value(json_object_get(body, "action")), "hostd audit.prune") == 0 &&
                      json_integer_value(json_object_get(diff, "pruned_through_seq")) == head &&
                      strcmp(json_string_value(json_object_get(diff, "pruned_through_hash")), last.hash) == 0,
              "the prune record names the anchor: whoever moves the anchor must also rewrite that record");
        json_decref(body);
        CHECK(verify_db(a, &v) == 3 && v.first_seq == head + 1, "the database's log verifies from its anchor");
        CHECK(verify_file(NULL) == head + 3, "the file keeps every record: retention is the database's only");
        CHECK(api_audit_prune(a, cutoff, NULL) == 0, "a second prune with the same cutoff finds nothing to do");

        CHECK(raw_sql("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)") &&
                      strstr(raw_sql("UPDATE audit_log SET body = body"), "append-only"),
              "the database refuses to delete or change a record above the anchor");
        CHECK(raw_sql("DELETE FROM audit_anchor") && raw_sql("UPDATE audit_anchor SET seq = 1") &&
                      raw_sql("UPDATE audit_anchor SET hash = "
                              "'1111111111111111111111111111111111111111111111111111111111111111'"),
              "and to remove the anchor, move it back or change its hash");
        CHECK(!raw_sql("DROP TRIGGER audit_anchor_forward; UPDATE audit_anchor SET hash = "
                       "'1111111111111111111111111111111111111111111111111111111111111111'") &&
                      verify_db(a, &v) < 0 && v.bad_seq == head + 1 && strstr(v.why, "missing predecessor"),
              "an anchor changed behind the triggers' back breaks the chain at the first record kept");
        orch_audit_row_clear(&last);
        orch_audit_row_clear(&prune);
        api_audit_close(a);
}

/* ---- concurrency ----------------------------------------------------------------------------- */

static void *appender(void *arg)
{
        for (int i = 0; i < 25; i++)
                append(arg, "test concurrent");
        return NULL;
}

static void test_concurrent(void)
{
        _cleanup_free_ char *fresh_db = hd_path_join(dir, "fresh.db"), *fresh_file = hd_path_join(dir, "fresh.jsonl");
        char *saved_db = db, *saved_file = file;
        pthread_t t[8];
        orch_store *st;
        api_audit *a;

        db = fresh_db;
        file = fresh_file;
        st = orch_store_open(db, NULL);
        a = open_log();
        for (size_t i = 0; a && i < HD_ARRAY_SIZE(t); i++)
                pthread_create(&t[i], NULL, appender, a);
        for (size_t i = 0; a && i < HD_ARRAY_SIZE(t); i++)
                pthread_join(t[i], NULL);
        CHECK(a && verify_file(NULL) == 200 && count_lines() == 200 && verify_db(a, NULL) == 200,
              "8 threads appending 25 records each make one chain of 200, alike in file and database");
        api_audit_close(a);
        orch_store_close(st);
        db = saved_db;
        file = saved_file;
}

/* ---- a request's record, redaction --------------------------------------------------------------- */

static const api_route *route_of(const char *method, const char *pattern)
{
        for (size_t i = 0; i < api_routes_count; i++)
                if (strcmp(api_routes[i].method, method) == 0 && strcmp(api_routes[i].pattern, pattern) == 0)
                        return &api_routes[i];
        return NULL;
}

static void test_request_record(void)
{
        api_request req = {.method = "POST", .path = "/v1/workspaces/dev1/stop", .on_unix_socket = true,
                           .peer_uid = 1000, .status = 202};
        json_t *rec, *again;

        snprintf(req.source, sizeof(req.source), "unix:uid=1000");
        snprintf(req.user_agent, sizeof(req.user_agent), "wsctl/0.1.0");
        snprintf(req.request_id, sizeof(req.request_id), "0123456789abcdef0123456789abcdef");
        req.caller.authenticated = true;
        req.caller.roles = API_ROLE_MEMBER | API_ROLE_AUDITOR;
        req.caller.method = "token";
        snprintf(req.caller.user, sizeof(req.caller.user), "alice");
        snprintf(req.caller.credential, sizeof(req.caller.credential), "laptop");
        req.route = route_of("POST", "/v1/workspaces/{ref}/stop");
        req.params[0] = "dev1";
        rec = api_audit_request_record(&req);
        CHECK(api_audit_wanted(&req), "a POST gets a record");
        CHECK_STR(json_string_value(json_object_get(rec, "action")), "POST /v1/workspaces/{ref}/stop",
                  "the action is the method and the route's pattern");
        again = json_pack("{s:s,s:s}", "type", "workspace", "id", "dev1");
        CHECK(json_equal(json_object_get(rec, "resource"), again), "the resource is the route's collection and param");
        json_decref(again);
        again = json_pack("{s:s,s:s,s:s,s:n,s:[ss]}", "user", "alice", "method", "token", "credential", "laptop",
                          "on_behalf_of", "roles", "auditor", "member");
        CHECK(json_equal(json_object_get(rec, "actor"), again), "the actor: user, method, credential, roles");
        json_decref(again);
        CHECK(json_integer_value(json_object_get(rec, "outcome")) == 202 && json_is_null(json_object_get(rec, "error")) &&
                      json_is_null(json_object_get(rec, "diff")) &&
                      strcmp(json_string_value(json_object_get(rec, "source")), "unix:uid=1000") == 0 &&
                      strlen(json_string_value(json_object_get(rec, "time"))) == 24,
              "outcome, no error, no body, the source and a time to the millisecond");
        json_decref(rec);

        /* A create: the id comes from the answer, the diff from the body. */
        req = (api_request){.method = "POST", .path = "/v1/templates", .status = 201, .max_body = 1024};
        req.route = route_of("POST", "/v1/templates");
        hd_buf_append(&req.body, "{\"name\":\"gpu\",\"password\":\"p\",\"vcpus\":4}");
        req.response = json_pack("{s:s,s:s}", "name", "gpu", "version", "abc");
        rec = api_audit_request_record(&req);
        again = json_pack("{s:s,s:s,s:i}", "name", "gpu", "password", "[redacted]", "vcpus", 4);
        CHECK(json_equal(json_object_get(rec, "diff"), again) &&
                      strcmp(json_string_value(json_object_get(json_object_get(rec, "resource"), "id")), "gpu") == 0,
              "a create records the body's fields, secrets redacted, and the created object's name");
        json_decref(again);
        json_decref(rec);
        json_decref(req.response);

        /* A refusal: the error code; a GET with 401 is recorded, a GET otherwise not. */
        req.status = 400;
        req.response = json_pack("{s:{s:s,s:s}}", "error", "code", "invalid", "message", "no");
        rec = api_audit_request_record(&req);
        CHECK(json_integer_value(json_object_get(rec, "outcome")) == 400 &&
                      strcmp(json_string_value(json_object_get(rec, "error")), "invalid") == 0 &&
                      strcmp(json_string_value(json_object_get(json_object_get(rec, "resource"), "id")), "gpu") == 0,
              "a refused create records its error code, and the name it asked for");
        json_decref(rec);
        json_decref(req.response);
        hd_buf_free(&req.body);
        req = (api_request){.method = "GET", .path = "/v1/templates", .status = 200};
        CHECK(!api_audit_wanted(&req), "a GET answered 200 gets no record");
        req.status = 403;
        CHECK(!api_audit_wanted(&req), "nor one answered 403");
        req.status = 401;
        CHECK(api_audit_wanted(&req), "a GET answered 401 gets one");
        req.method = "DELETE";
        req.status = 404;
        CHECK(api_audit_wanted(&req), "a DELETE gets one whatever its answer");
}

static void test_redaction(void)
{
        _cleanup_free_ char *fixdir = tl_fixtures_dir("audit");
        _cleanup_(json_decrefp) json_t *in = NULL, *out = NULL;
        _cleanup_free_ char *text = NULL;
        struct dirent **names = NULL;
        int n = fixdir ? scandir(fixdir, &names, NULL, alphasort) : -1;
        size_t cases = 0;

        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                size_t len = strlen(name);

                if (len > 5 && strcmp(name + len - 5, ".json") == 0) {
                        _cleanup_free_ char *inpath = hd_path_join(fixdir, name);
                        _cleanup_free_ char *outname = hd_asprintf("%.*s.out", (int)(len - 5), name);
                        _cleanup_free_ char *outpath = hd_path_join(fixdir, outname);
                        _cleanup_free_ char *what = hd_asprintf("redaction of %s gives the expected diff", name);
                        _cleanup_(json_decrefp) json_t *body = json_load_file(inpath, 0, NULL);
                        _cleanup_(json_decrefp) json_t *red = api_audit_redact(body, NULL);
                        _cleanup_free_ char *dump = json_dumps(red, JSON_INDENT(2) | JSON_SORT_KEYS);
                        _cleanup_free_ char *withnl = hd_asprintf("%s\n", dump ? dump : "(null)");

                        tl_fixture_compare(outpath, withnl, what);
                        cases++;
                }
                free(names[i]);
        }
        free(names);
        CHECK(cases >= 3, "the redaction fixtures were found");

        in = json_pack("{s:s,s:[s]}", "note", "my token is hdt-bearer-secret-123", "list", "hdt-bearer-secret-123");
        out = api_audit_redact(in, "hdt-bearer-secret-123");
        text = json_dumps(out, JSON_COMPACT);
        CHECK(text && !strstr(text, "bearer-secret"), "the request's own bearer token is redacted wherever it appears");
}

int main(void)
{
        orch_store *st;
        hd_error err = {0};

        if (!mkdtemp(dir))
                return 1;
        db = hd_path_join(dir, "hostd.db");
        file = hd_path_join(dir, "log/audit.jsonl");
        st = orch_store_open(db, &err);
        CHECK(st != NULL, "the store opens and migrates");
        test_append();
        test_fail_closed();
        test_recovery();
        test_prune();
        test_concurrent();
        test_request_record();
        test_redaction();
        orch_store_close(st);
        {
                const char *const rm[] = {"rm", "-rf", dir, NULL};

                hd_run(rm, NULL, NULL);
        }
        return tl_done();
}

/* test-agent.c — the in-guest agent's pieces: its JSON writer and reader,
 * the activity collectors against fixture trees (tests/fixtures/agent/), the
 * cloud-init status, GPU utilisation from fake nvidia-smi scripts, the
 * protocol messages and the line framing on the port.
 *
 * The agent links no project library (it is a static libc-only program), so
 * its .c files are compiled into this test directly. jansson, which hostd
 * uses to read what the agent sends, checks the writer's output. */
#include "agent/cloudinit.c"
#include "agent/collect.c"
#include "agent/gpu.c"
#include "agent/json_read.c"
#include "agent/json_write.c"
#include "agent/log.c"
#include "agent/messages.c"
#include "agent/port.c"
#include "agent/sessions.c"
#include "agent/spawn.c"
#include "agent/startup.c"

#include "common/common.h"
#include "tests/fixture.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>

static bool regenerate;
static char tmpdir[] = "/tmp/hostd-test-agent-XXXXXX";
static char *fixtures;

/* Compare text with the expected file, or rewrite it under HOSTD_REGENERATE=1. */
static void check_expected(const char *text, const char *name, const char *what)
{
        _cleanup_free_ char *path = hd_path_join(fixtures, name), *want = NULL, *got = NULL;
        hd_error err = {0};
        size_t len;

        got = hd_asprintf("%s\n", text ? text : "(none)");
        if (regenerate) {
                CHECK(hd_write_file_atomic(path, got, strlen(got), 0644, &err) == 0, "expected file rewritten");
                return;
        }
        if (hd_read_file(path, 1 << 20, &want, &len, &err) < 0) {
                CHECK(false, err.message);
                return;
        }
        CHECK_STR(got, want, what);
}

/* ---- JSON writer ---------------------------------------------------------- */

static json_t *load(const char *text)
{
        return json_loads(text, JSON_DECODE_ANY, NULL);
}

static void test_writer(void)
{
        char buf[512], tiny[12];
        ag_jw w;
        ssize_t len;
        json_t *j;

        ag_jw_init(&w, buf, sizeof(buf));
        ag_jw_str(&w, "q\"b\\s/\n\t\r\b\f\x01\x1f\x7f end");
        CHECK_STR(buf, "\"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f end\"",
                  "quotes, backslashes and control characters are escaped");

        ag_jw_init(&w, buf, sizeof(buf));
        ag_jw_str(&w, "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
        CHECK_STR(buf, "\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\"", "valid UTF-8 passes through unescaped");

        ag_jw_init(&w, buf, sizeof(buf));
        ag_jw_str(&w, "a\xff" "b\xc0\xaf" "c\xed\xa0\x80" "d\xf4\x90\x80\x80" "e\xe6\x97");
        j = load(buf);
        CHECK(j && json_is_string(j), "invalid UTF-8 still yields JSON that jansson accepts");
        CHECK_STR(j ? json_string_value(j) : NULL,
                  "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                  "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "e\xef\xbf\xbd\xef\xbf\xbd",
                  "each invalid byte (stray, overlong, surrogate, too high, cut short) becomes U+FFFD");
        json_decref(j);

        ag_jw_init(&w, buf, sizeof(buf));
        ag_jw_obj_begin(&w);
        ag_jw_key(&w, "a");
        ag_jw_arr_begin(&w);
        ag_jw_int(&w, -5);
        ag_jw_fixed2(&w, 0.505);
        ag_jw_fixed2(&w, 0.0 / 0.0);
        ag_jw_null(&w);
        ag_jw_obj_begin(&w);
        ag_jw_obj_end(&w);
        ag_jw_arr_end(&w);
        ag_jw_key(&w, "k\"ey");
        ag_jw_str(&w, NULL);
        ag_jw_obj_end(&w);
        len = ag_jw_finish(&w);
        CHECK_STR(buf, "{\"a\":[-5,0.51,null,null,{}],\"k\\\"ey\":null}",
                  "objects and arrays get commas and colons right; NaN is null");
        CHECK(len == (ssize_t)strlen(buf), "finish returns the text's length");

        ag_jw_init(&w, tiny, sizeof(tiny));
        ag_jw_str(&w, "0123456789");
        CHECK(ag_jw_finish(&w) == -1 && strlen(tiny) < sizeof(tiny),
              "a message that does not fit is refused, never written past the buffer");

        ag_jw_init(&w, buf, sizeof(buf));
        ag_jw_obj_begin(&w);
        CHECK(ag_jw_finish(&w) == -1, "an unclosed object is refused");
        ag_jw_init(&w, buf, sizeof(buf));
        ag_jw_arr_end(&w);
        CHECK(ag_jw_finish(&w) == -1, "closing what was never opened is refused");
        ag_jw_init(&w, buf, sizeof(buf));
        ag_jw_key(&w, "top");
        CHECK(ag_jw_finish(&w) == -1, "a key outside an object is refused");
        ag_jw_init(&w, buf, sizeof(buf));
        for (int i = 0; i < AG_JW_DEPTH + 2; i++)
                ag_jw_arr_begin(&w);
        CHECK(ag_jw_finish(&w) == -1, "nesting deeper than the writer keeps is refused");
}

/* ---- JSON reader ---------------------------------------------------------- */

static bool parses(const char *s)
{
        ag_jval v;

        return ag_json_parse(s, strlen(s), &v) == 0;
}

static void test_reader_values(void)
{
        const char *doc = "{\"x\":{\"type\":\"error\"},\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\ud800 \\u0000 \\\"q\\\" \\\\\","
                          "\"n\":-12,\"big\":1e400,\"arr\":[1, \"two\" ,[3],{}],\"type\":\"welcome\",\"type\":\"dup\"}";
        char out[128], small[5];
        ag_jval root, v, e;
        ag_jiter it;
        long long n;
        int count = 0;

        CHECK(ag_json_parse(doc, strlen(doc), &root) == 0 && root.type == AG_J_OBJ, "a valid object parses");
        CHECK(ag_json_get(&root, "type", &v) == 0 && ag_json_str(&v, out, sizeof(out)) == 0 &&
                      strcmp(out, "welcome") == 0,
              "members are found at the top level only, the first of duplicates wins");
        CHECK(ag_json_get(&root, "s", &v) == 0 && ag_json_str(&v, out, sizeof(out)) == 0, "strings decode");
        CHECK_STR(out, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd \xef\xbf\xbd \"q\" \\",
                  "escapes decode; surrogate pairs join; lone surrogates and NUL become U+FFFD");
        CHECK(ag_json_get(&root, "s", &v) == 0 && ag_json_str(&v, small, sizeof(small)) == 0 &&
                      strcmp(small, "caf") == 0,
              "a decoded string is cut before a character that does not fit");
        CHECK(ag_json_get(&root, "n", &v) == 0 && ag_json_int(&v, &n) == 0 && n == -12, "integers read");
        CHECK(ag_json_get(&root, "big", &v) == 0 && ag_json_int(&v, &n) == -1,
              "a number that is not an integer is not read as one");
        CHECK(ag_json_get(&root, "missing", &v) == -1, "absent members are reported absent");
        CHECK(ag_json_get(&root, "arr", &v) == 0 && v.type == AG_J_ARR, "arrays are values");
        ag_json_iter(&v, &it);
        while (ag_json_next(&it, &e))
                count++;
        CHECK(count == 4, "array iteration visits every element once");
        ag_json_get(&root, "n", &v);
        ag_json_iter(&v, &it);
        CHECK(!ag_json_next(&it, &e), "iterating a non-array yields nothing");
}

/* jansson refuses reals that overflow a double (1e400); JSON allows them. */
static bool huge_exponent(const char *doc)
{
        for (const char *p = doc; *p; p++)
                if ((*p == 'e' || *p == 'E') && p > doc && p[-1] >= '0' && p[-1] <= '9' &&
                    strspn(p + 1 + (p[1] == '-' || p[1] == '+'), "0123456789") >= 3)
                        return true;
        return false;
}

static void test_reader_garbage(void)
{
        static const char *const bad[] = {
                "", " ", "{", "}", "{\"type\"", "{\"type\":}", "{\"a\":1,}", "[1,]", "{'a':1}",
                "{\"a\":1}x", "{\"a\":1}{}", "\"\\u12\"", "\"\\x\"", "\"a\nb\"", "01", "1.", "-", "tru",
                "nul", "{\"a\" 1}", "[1 2]", "\"unterminated\\\"", "{\"a\":1", "\"\\",
        };
        char deep[2000], msg[] = "{\"type\":\"error\",\"message\":\"bad \\\"token\\\"\"}";
        bool all_rejected = true, prefixes_rejected = true;
        int disagreements = 0;
        ag_jval v;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                all_rejected &= !parses(bad[i]);
        CHECK(all_rejected, "malformed JSON is rejected");
        CHECK(parses(" {\"a\":[true,false,null,-0.5e+3,\"\"]}\r\n"), "whitespace around a value is fine");
        CHECK(ag_json_parse("{\"a\":1}\0{", 9, &v) == -1, "a NUL byte inside the line is garbage");

        memset(deep, '[', sizeof(deep));
        CHECK(ag_json_parse(deep, sizeof(deep), &v) == -1, "deep nesting is refused without recursion running away");
        memset(deep, '[', AG_JSON_DEPTH);
        memset(deep + AG_JSON_DEPTH, ']', AG_JSON_DEPTH);
        CHECK(ag_json_parse(deep, 2 * AG_JSON_DEPTH, &v) == 0, "nesting up to the limit is accepted");

        for (size_t n = 0; n + 1 < sizeof(msg); n++)
                prefixes_rejected &= ag_json_parse(msg, n, &v) == -1;
        CHECK(prefixes_rejected, "every truncation of a message is rejected, none read past its end");

        /* Differential fuzzing against jansson: one-character mutations of
         * generated documents must be accepted or rejected alike. */
        srand(7);
        for (int round = 0; round < 20000; round++) {
                static const char alphabet[] = "{}[]\":,\\ntrufalse0123456789-.eE /\x01\t";
                static const char *const parts[] = {"{\"a\":", "[", "]", "}", "\"s\\n\\\"t\"", "12", "-0.5",
                                                    "true", "null", ",", "\"k\":", "{}", "[]", "1e3"};
                char doc[256];
                size_t len = 0;
                json_t *j;
                bool ours, theirs;

                for (int k = rand() % 12; k >= 0; k--) {
                        const char *part = parts[rand() % (sizeof(parts) / sizeof(parts[0]))];
                        size_t pl = strlen(part);
                        if (len + pl < 200) {
                                memcpy(doc + len, part, pl);
                                len += pl;
                        }
                }
                if (len > 0 && rand() % 4) {
                        size_t at = (size_t)rand() % len;
                        char c = alphabet[rand() % (sizeof(alphabet) - 1)];
                        switch (rand() % 3) {
                        case 0: doc[at] = c; break;
                        case 1: memmove(doc + at, doc + at + 1, len - at - 1); len--; break;
                        default: memmove(doc + at + 1, doc + at, len - at); doc[at] = c; len++; break;
                        }
                }
                doc[len] = '\0';
                ours = ag_json_parse(doc, len, &v) == 0;
                j = json_loadb(doc, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                theirs = j != NULL;
                json_decref(j);
                if (ours != theirs && !huge_exponent(doc) && disagreements++ < 3)
                        printf("# disagreement on '%s': ours %d, jansson %d\n", doc, ours, theirs);
        }
        CHECK(disagreements == 0, "the reader accepts exactly what jansson accepts (20000 mutated documents)");

        /* Random bytes: must never crash or read out of bounds (ASan build). */
        for (int round = 0; round < 20000; round++) {
                char junk[64];
                size_t n = (size_t)rand() % sizeof(junk);
                ag_host_msg m;

                for (size_t i = 0; i < n; i++)
                        junk[i] = "{}[]\":,\\u0aZ\xff"[rand() % 14];
                ag_host_parse(junk, n, &m);
        }
        CHECK(true, "random bytes never crash the host message reader");
}

static void test_host_messages(void)
{
        ag_host_msg m;
        const char *s;

        s = "{\"type\":\"welcome\",\"proto\":1}";
        ag_host_parse(s, strlen(s), &m);
        CHECK(m.kind == AG_HOST_WELCOME && m.proto == 1, "welcome is read with its protocol version");
        s = "{\"type\":\"welcome\"}";
        ag_host_parse(s, strlen(s), &m);
        CHECK(m.kind == AG_HOST_WELCOME && m.proto == -1, "a welcome without proto is still a welcome");
        s = "{\"message\":\"bad token for ws \\u00e9\\n\",\"type\":\"error\"}";
        ag_host_parse(s, strlen(s), &m);
        CHECK(m.kind == AG_HOST_ERROR, "error is read whatever the member order");
        CHECK_STR(m.text, "bad token for ws \xc3\xa9\n", "the error's message is decoded");
        s = "{\"type\":\"shutdown\"}";
        ag_host_parse(s, strlen(s), &m);
        CHECK(m.kind == AG_HOST_UNKNOWN && strcmp(m.type, "shutdown") == 0, "unknown types are named, not acted on");
        s = "{\"type\":7}";
        ag_host_parse(s, strlen(s), &m);
        CHECK(m.kind == AG_HOST_INVALID, "a type that is not a string is invalid");
        s = "[\"type\",\"welcome\"]";
        ag_host_parse(s, strlen(s), &m);
        CHECK(m.kind == AG_HOST_INVALID, "a line that is not an object is invalid");
}

/* ---- collectors against fixtures ----------------------------------------- */

static void add_utmp(short type, const char *user, const char *line, const char *id, pid_t pid)
{
        struct utmpx u = {.ut_type = type, .ut_pid = pid};

        snprintf(u.ut_user, sizeof(u.ut_user), "%s", user);
        snprintf(u.ut_line, sizeof(u.ut_line), "%s", line);
        strncpy(u.ut_id, id, sizeof(u.ut_id));
        snprintf(u.ut_host, sizeof(u.ut_host), "198.51.100.7");
        CHECK(pututxline(&u) != NULL, "the test writes a utmp entry");
}

static void touch_at(const char *dir, const char *name, time_t atime)
{
        _cleanup_free_ char *path = hd_path_join(dir, name);
        struct timespec times[2] = {{atime, 0}, {atime, 0}};
        hd_error err = {0};

        hd_write_file_atomic(path, "", 0, 0620, &err);
        utimensat(AT_FDCWD, path, times, 0);
}

/* A fake interface list: what getifaddrs() returns in a guest. */
struct fake_if {
        struct ifaddrs ifa;
        struct sockaddr_storage addr, mask;
};

static void fake_if(struct fake_if *f, struct fake_if *next, const char *name, int family,
                    const char *addr, int prefix, unsigned flags)
{
        memset(f, 0, sizeof(*f));
        f->ifa.ifa_next = next ? &next->ifa : NULL;
        f->ifa.ifa_name = (char *)name;
        f->ifa.ifa_flags = flags;
        f->addr.ss_family = (sa_family_t)family;
        f->mask.ss_family = (sa_family_t)family;
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&f->addr, *m = (struct sockaddr_in *)&f->mask;
                inet_pton(AF_INET, addr, &a->sin_addr);
                m->sin_addr.s_addr = htonl(prefix ? ~0u << (32 - prefix) : 0);
        } else if (family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&f->addr, *m = (struct sockaddr_in6 *)&f->mask;
                inet_pton(AF_INET6, addr, &a->sin6_addr);
                for (int i = 0; i < prefix / 8; i++)
                        m->sin6_addr.s6_addr[i] = 0xff;
        }
        f->ifa.ifa_addr = family == AF_UNSPEC ? NULL : (struct sockaddr *)&f->addr;
        f->ifa.ifa_netmask = (struct sockaddr *)&f->mask;
}

static void test_collectors(void)
{
        const time_t now = 1700000000;
        _cleanup_free_ char *proc = hd_path_join(fixtures, "proc"), *run = hd_path_join(tmpdir, "run"),
                            *dev = hd_path_join(tmpdir, "dev"), *pts = hd_path_join(dev, "pts"),
                            *etc = hd_path_join(tmpdir, "etc"), *utmp = hd_path_join(run, "utmp");
        ag_paths paths = {.proc = proc, .run = run, .dev = dev};
        struct fake_if ifs[7];
        char buf[AG_LINE_MAX + 1];
        hd_error err = {0};
        ag_sample s;
        long long up = 0, total = 0, avail = 0, age = 0;
        double load[3];
        int users = 0;
        json_t *j, *addrs;

        CHECK(ag_read_uptime(proc, &up) == 0 && up == 12345, "uptime is read in whole seconds");
        CHECK(ag_read_loadavg(proc, load) == 0 && load[0] == 0.52 && load[2] == 0.59, "load averages are read");
        CHECK(ag_read_meminfo(proc, &total, &avail) == 0 && total == 4028776 && avail == 3012456,
              "MemTotal and MemAvailable are read");
        CHECK(ag_count_ssh_sessions(proc) == 3,
              "SSH sessions: with and without a terminal, old and new sshd titles; fakes not counted");
        CHECK(ag_count_ssh_sessions("/nonexistent") == -1, "an unreadable /proc gives unknown, not zero");

        hd_mkdir_p(pts, 0755, &err);
        hd_mkdir_p(run, 0755, &err);
        hd_mkdir_p(etc, 0755, &err);
        CHECK(ag_read_logins(&paths, now, &users, &age) == 0 && users == 0 && age == -1,
              "no utmp file means nobody is logged in");
        hd_write_file_atomic(utmp, "", 0, 0664, &err);
        touch_at(dev, "pts/0", now - 120);
        touch_at(dev, "pts/1", now - 42);
        touch_at(dev, "tty1", now - 4000);
        touch_at(etc, "shadow", now - 1);
        CHECK(utmpxname(utmp) == 0, "the test writes a utmp file");
        setutxent();
        add_utmp(USER_PROCESS, "alice", "pts/0", "ts/0", 602);
        add_utmp(USER_PROCESS, "carol", "pts/1", "ts/1", 802);
        add_utmp(USER_PROCESS, "alice", "tty1", "tty1", 1);
        add_utmp(USER_PROCESS, "zed", "pts/9", "ts/9", 99999);   /* stale: no such process */
        add_utmp(LOGIN_PROCESS, "LOGIN", "tty2", "tty2", 1);
        add_utmp(DEAD_PROCESS, "", "pts/5", "ts/5", 0);
        add_utmp(USER_PROCESS, "mal", "../etc/shadow", "mal", 970); /* a line outside /dev */
        endutxent();
        CHECK(ag_read_logins(&paths, now, &users, &age) == 0 && users == 3,
              "users: distinct names of live USER_PROCESS entries");
        CHECK(age == 42, "input age: the most recently read terminal, never a path outside /dev");

        fake_if(&ifs[6], NULL, "eth1", AF_INET, "10.9.9.9", 16, 0);
        fake_if(&ifs[5], &ifs[6], "br\"0", AF_INET6, "fd00::5", 64, IFF_UP);
        fake_if(&ifs[4], &ifs[5], "eth0", AF_UNSPEC, NULL, 0, IFF_UP);
        fake_if(&ifs[3], &ifs[4], "eth0", AF_INET6, "fe80::1", 64, IFF_UP);
        fake_if(&ifs[2], &ifs[3], "eth0", AF_INET, "10.1.2.3", 24, IFF_UP);
        fake_if(&ifs[1], &ifs[2], "lo", AF_INET6, "::1", 128, IFF_UP | IFF_LOOPBACK);
        fake_if(&ifs[0], &ifs[1], "lo", AF_INET, "127.0.0.1", 8, IFF_UP | IFF_LOOPBACK);
        ag_collect(&paths, now, &ifs[0].ifa, &s);
        CHECK(ag_msg_heartbeat(buf, sizeof(buf), 7, &s) > 0, "the heartbeat is built");
        check_expected(buf, "heartbeat.expected", "the heartbeat for the fixture tree is as expected");
        j = json_loads(buf, 0, NULL);
        addrs = json_object_get(j, "addresses");
        CHECK(json_array_size(addrs) == 2, "addresses skip loopback, link-local IPv6, down and address-less entries");
        CHECK_STR(json_string_value(json_object_get(json_array_get(addrs, 1), "iface")), "br\"0",
                  "an interface name round-trips through the escaping");
        CHECK(json_integer_value(json_object_get(json_array_get(addrs, 0), "prefix")) == 24, "prefix lengths come from the netmask");
        json_decref(j);

        paths.proc = paths.run = tmpdir; /* nothing there */
        ag_collect(&paths, now, NULL, &s);
        ag_msg_heartbeat(buf, sizeof(buf), 1, &s);
        CHECK_CONTAINS(buf, "\"uptime_s\":null,\"load1\":null,\"load5\":null,\"load15\":null,"
                            "\"mem_total_kib\":null,\"mem_available_kib\":null,\"ssh_sessions\":0,\"users\":0,"
                            "\"last_input_age_s\":null,\"gpu_util_pct\":null,\"gpus\":null,\"addresses\":[]",
                       "figures that cannot be read are null, not zero");
}

/* ---- GPU utilisation from nvidia-smi --------------------------------------- */

/* Write a fake nvidia-smi: a shell script with body, executable. */
static char *fake_smi(const char *name, const char *body)
{
        char *path = hd_path_join(tmpdir, name);
        _cleanup_free_ char *text = hd_asprintf("#!/bin/sh\n%s\n", body);
        hd_error err = {0};

        CHECK(hd_write_file_atomic(path, text, strlen(text), 0755, &err) == 0, "the test writes a fake nvidia-smi");
        return path;
}

static int query(const char *name, const char *body, ag_gpu *g)
{
        _cleanup_free_ char *smi = fake_smi(name, body);

        return ag_gpu_query(smi, AG_GPU_TIMEOUT_MS, g, NULL, NULL);
}

static void test_gpu(void)
{
        _cleanup_free_ char *pidfile = hd_path_join(tmpdir, "smi.pid"), *hang = NULL, *body = NULL;
        _cleanup_free_ char *args = hd_path_join(tmpdir, "smi.args"), *argv_body = NULL, *got = NULL;
        char buf[AG_LINE_MAX + 1], found[64];
        ag_gpu_cache cache = {0};
        hd_error err = {0};
        ag_sample s = {0};
        ag_gpu g;
        int64_t t0;
        size_t len;
        int rc;

        argv_body = hd_asprintf("for a; do echo \"$a\"; done > '%s'\nprintf '12\\n87\\n'", args);
        rc = query("smi-two", argv_body, &g);
        CHECK(rc == 0 && g.util_pct == 87 && g.gpus == 2, "two GPUs at 12%% and 87%%: utilisation 87, 2 GPUs");
        if (hd_read_file(args, 4096, &got, &len, &err) == 0)
                CHECK_STR(got, "--query-gpu=utilization.gpu\n--format=csv,noheader,nounits\n",
                          "nvidia-smi is asked for utilization.gpu as bare CSV numbers, one argument each");
        else
                CHECK(false, err.message);
        rc = query("smi-na", "echo '[N/A]'", &g);
        CHECK(rc == 0 && g.util_pct == -1 && g.gpus == 1, "[N/A]: the GPU is counted, its utilisation is unknown");
        rc = query("smi-mixed", "printf '[N/A]\\n 5 \\n0\\n'", &g);
        CHECK(rc == 0 && g.util_pct == 5 && g.gpus == 3, "[N/A] lines are ignored for the utilisation");
        rc = query("smi-garbage", "echo 12; echo 'NVIDIA-SMI has failed because it couldn'\\''t communicate'", &g);
        CHECK(rc == -1 && errno == EPROTO && g.util_pct == -1 && g.gpus == -1, "garbage output: both unknown");
        rc = query("smi-range", "printf '12\\n101\\n'", &g);
        CHECK(rc == -1 && g.util_pct == -1 && g.gpus == -1, "a value over 100 is garbage");
        rc = query("smi-exit1", "echo 50; exit 1", &g);
        CHECK(rc == -1 && errno == EPROTO && g.util_pct == -1 && g.gpus == -1,
              "nvidia-smi failing (exit status 1): unknown even when it printed numbers");
        rc = query("smi-big", "yes 1 | head -c 70000", &g);
        CHECK(rc == -1 && errno == EFBIG && g.gpus == -1, "output over 64 KiB is refused");
        errno = 0;
        rc = ag_gpu_query("/nonexistent/nvidia-smi", AG_GPU_TIMEOUT_MS, &g, NULL, NULL);
        CHECK(rc == -1 && errno == ENOENT && g.util_pct == -1 && g.gpus == -1, "a missing nvidia-smi: unknown");

        CHECK(ag_gpu_parse("", 0, &g) == 0 && g.gpus == 0 && g.util_pct == -1,
              "no GPU listed: 0 GPUs, utilisation unknown (not 0)");
        CHECK(ag_gpu_parse("7", 1, &g) == 0 && g.util_pct == 7 && g.gpus == 1, "a last line without newline counts");
        CHECK(ag_gpu_parse("7\n\n8\n", 5, &g) == -1 && ag_gpu_parse("-1\n", 3, &g) == -1 &&
                      ag_gpu_parse("+5\n", 3, &g) == -1 && ag_gpu_parse("5 %\n", 4, &g) == -1 &&
                      ag_gpu_parse("0005\n", 5, &g) == -1 && ag_gpu_parse("5\0\n", 3, &g) == -1,
              "empty lines, signs, units, long numbers and NUL bytes are garbage");

        body = hd_asprintf("echo $$ > '%s'\nexec sleep 10", pidfile);
        hang = fake_smi("smi-hang", body);
        t0 = ag_mono_ms();
        rc = ag_gpu_query(hang, AG_GPU_TIMEOUT_MS, &g, NULL, NULL);
        t0 = ag_mono_ms() - t0;
        printf("# a hung nvidia-smi was given up after %lld ms\n", (long long)t0);
        CHECK(rc == -1 && errno == ETIMEDOUT && g.util_pct == -1 && g.gpus == -1, "a hung nvidia-smi: unknown");
        CHECK(t0 >= AG_GPU_TIMEOUT_MS - 100 && t0 < AG_GPU_TIMEOUT_MS + 1000, "it is given up after about 5 s");
        {
                _cleanup_free_ char *pid = NULL;
                if (hd_read_file(pidfile, 64, &pid, &len, &err) == 0)
                        CHECK(kill((pid_t)atoi(pid), 0) == -1 && errno == ESRCH, "the hung nvidia-smi is killed and reaped");
                else
                        CHECK(false, err.message);
        }

        /* The cache: a hung one is asked again only after AG_GPU_HUNG_RETRY_MS. */
        t0 = ag_mono_ms();
        ag_gpu_cached(&cache, hang, 5000, &s.gpu, NULL, NULL);
        ag_gpu_cached(&cache, hang, 5000, &s.gpu, NULL, NULL);
        t0 = ag_mono_ms() - t0;
        CHECK(t0 < 2 * AG_GPU_TIMEOUT_MS - 500 && cache.hung && s.gpu.util_pct == -1 && s.gpu.gpus == -1,
              "a hung nvidia-smi delays one heartbeat, not the next ones");
        memset(&cache, 0, sizeof(cache));
        {
                _cleanup_free_ char *two = fake_smi("smi-cached", "printf '30\\n3\\n'");
                ag_gpu_cached(&cache, two, 60000, &s.gpu, NULL, NULL);
                unlink(two);
                ag_gpu_cached(&cache, two, 60000, &s.gpu, NULL, NULL);
                CHECK(s.gpu.util_pct == 30 && s.gpu.gpus == 2, "a result is reused for the heartbeat interval");
                ag_gpu_cached(&cache, two, 0, &s.gpu, NULL, NULL);
                CHECK(s.gpu.util_pct == -1 && s.gpu.gpus == -1, "once stale it is asked again (now missing: unknown)");
        }
        s.uptime_s = s.mem_total_kib = s.mem_available_kib = s.last_input_age_s = -1;
        s.ssh_sessions = s.users = -1;
        s.gpu = (ag_gpu){.util_pct = 87, .gpus = 2};
        CHECK(ag_msg_heartbeat(buf, sizeof(buf), 1, &s) > 0, "the heartbeat is built");
        CHECK_CONTAINS(buf, "\"gpu_util_pct\":87,\"gpus\":2,", "the heartbeat carries the GPU figures");
        CHECK(ag_gpu_find_smi(found, sizeof(found)) == NULL || strstr(found, "/nvidia-smi") != NULL,
              "nvidia-smi is looked up in fixed folders only");
}

static void test_cloudinit(void)
{
        static const char *const cases[] = {"done", "error", "disabled", "garbage"};
        char buf[AG_LINE_MAX + 1];
        ag_cloudinit ci;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_free_ char *run = hd_asprintf("%s/cloudinit/%s", fixtures, cases[i]);
                _cleanup_free_ char *expected = hd_asprintf("cloudinit/%s.expected", cases[i]);
                _cleanup_free_ char *what = hd_asprintf("ready message for cloud-init case '%s'", cases[i]);

                ag_cloudinit_read(run, &ci);
                check_expected(ag_msg_ready(buf, sizeof(buf), &ci) > 0 ? buf : NULL, expected, what);
        }
        {
                _cleanup_free_ char *run = hd_asprintf("%s/cloudinit/pending", fixtures);
                ag_cloudinit_read(run, &ci);
                CHECK(ci.status == AG_CI_PENDING, "cloud-init still running (status.json, no result.json) is pending");
                ag_cloudinit_read("/nonexistent-run", &ci);
                CHECK(ci.status == AG_CI_DISABLED, "a guest without cloud-init's run folder is reported disabled");
        }
}

static void test_hello(void)
{
        char buf[AG_LINE_MAX + 1];
        json_t *j;

        CHECK(ag_msg_hello(buf, sizeof(buf), "ws-1\"x", "t\\o\"k\x01") > 0, "hello is built");
        j = json_loads(buf, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(j, "token")), "t\\o\"k\x01", "the token round-trips exactly");
        CHECK_STR(json_string_value(json_object_get(j, "workspace_id")), "ws-1\"x", "the workspace id round-trips");
        CHECK(json_integer_value(json_object_get(j, "proto")) == AG_PROTO, "hello carries the protocol version");
        json_decref(j);
}

/* ---- files and log lines -------------------------------------------------- */

static void test_files_and_log(void)
{
        _cleanup_free_ char *path = hd_path_join(tmpdir, "value");
        char buf[16], safe[32];
        hd_error err = {0};

        hd_write_file_atomic(path, "secret-token \n\n", 15, 0400, &err);
        CHECK(ag_read_value(path, buf, sizeof(buf)) == 12 && strcmp(buf, "secret-token") == 0,
              "a config value is read without its trailing newline");
        hd_write_file_atomic(path, "0123456789abcdefXYZ", 19, 0400, &err);
        errno = 0;
        CHECK(ag_read_file(path, buf, sizeof(buf)) == -1 && errno == EFBIG, "a file over the limit is refused, not cut");
        hd_write_file_atomic(path, " \n", 2, 0400, &err);
        CHECK(ag_read_value(path, buf, sizeof(buf)) == -1, "an empty value is refused");
        ag_log_sanitize("evil\n<0>forged\x1b[31m", safe, sizeof(safe));
        CHECK_STR(safe, "evil?<0>forged?[31m", "text from the host cannot start a new log line");
}

/* ---- line framing on the port --------------------------------------------- */

struct lines {
        int count, overlong;
        size_t last_len;
        char last[128];
};

static void collect_line(const char *line, size_t len, void *ctx)
{
        struct lines *l = ctx;

        if (len == SIZE_MAX) {
                l->overlong++;
                return;
        }
        l->count++;
        l->last_len = len;
        snprintf(l->last, sizeof(l->last), "%.*s", (int)(len < 100 ? len : 100), line);
}

static void write_all(int fd, const char *s, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, s, n);
                if (w <= 0)
                        return;
                s += w, n -= (size_t)w;
        }
}

struct reader {
        int fd;
        size_t len;
        char *data;
};

static void *read_until_newline(void *arg)
{
        struct reader *r = arg;
        char chunk[1000];
        ssize_t n;

        while ((n = read(r->fd, chunk, sizeof(chunk))) > 0) {
                usleep(100); /* a slow host: the agent must see partial writes */
                memcpy(r->data + r->len, chunk, (size_t)n);
                r->len += (size_t)n;
                if (chunk[n - 1] == '\n')
                        break;
        }
        return NULL;
}

static void test_port(void)
{
        static ag_port p;
        static char big[AG_LINE_MAX + 10], got[AG_LINE_MAX + 10];
        struct lines l = {0};
        int sv[2], sndbuf = 4096;
        pthread_t thread;
        struct reader r = {.data = got};
        sigset_t none;
        volatile sig_atomic_t no_stop = 0;

        sigemptyset(&none);
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
        p.fd = sv[0];
        p.is_socket = true;

        write_all(sv[1], "{\"type\":\"welcome\"}\n{\"type\":\"err", 31);
        CHECK(ag_port_read(&p, collect_line, &l) == 0 && l.count == 1, "a complete line is handed over at once");
        write_all(sv[1], "or\"}\n\n", 6);
        ag_port_read(&p, collect_line, &l);
        CHECK(l.count == 3 && strcmp(l.last, "") == 0, "a line split across reads is joined; empty lines pass");

        memset(big, 'x', sizeof(big));
        write_all(sv[1], big, AG_LINE_MAX + 5);
        write_all(sv[1], "\n{\"a\":1}\n", 9);
        for (int i = 0; i < 4; i++)
                ag_port_read(&p, collect_line, &l);
        CHECK(l.overlong == 1 && l.count == 4 && strcmp(l.last, "{\"a\":1}") == 0,
              "an overlong line is dropped whole and the next line still arrives");
        write_all(sv[1], big, AG_LINE_MAX);
        write_all(sv[1], "\n", 1);
        for (int i = 0; i < 4; i++)
                ag_port_read(&p, collect_line, &l);
        CHECK(l.count == 5 && l.last_len == AG_LINE_MAX && l.overlong == 1, "a line of exactly the maximum is accepted");

        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        r.fd = sv[1];
        fcntl(sv[1], F_SETFL, 0);
        pthread_create(&thread, NULL, read_until_newline, &r);
        CHECK(ag_port_send_line(&p, big, 60000, 5000, &none, &no_stop) == 0, "a long line is sent to a slow reader");
        pthread_join(thread, NULL);
        CHECK(r.len == 60001 && memcmp(got, big, 60000) == 0 && got[60000] == '\n',
              "partial writes add up to the whole line and its newline");

        errno = 0;
        CHECK(ag_port_send_line(&p, big, 60000, 200, &none, &no_stop) == -1 && errno == ETIMEDOUT,
              "a host that never reads makes sending time out instead of hanging");

        close(sv[1]);
        CHECK(ag_port_read(&p, collect_line, &l) == -1, "the host closing its end is seen as a disconnect");
        CHECK(ag_port_send_line(&p, "{}", 2, 200, &none, &no_stop) == -1, "writing to a closed host fails without SIGPIPE");
        ag_port_close(&p);
        CHECK(ag_port_open(&p, "/nonexistent/port") == -1 && errno == ENOENT, "a missing port is reported");
}

int main(void)
{
        const char *regen = getenv("HOSTD_REGENERATE");
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};

        regenerate = regen && strcmp(regen, "1") == 0;
        fixtures = tl_fixtures_dir("agent");
        if (!CHECK(fixtures != NULL, "tests/fixtures/agent is found") || !CHECK(mkdtemp(tmpdir) != NULL, "temp dir"))
                return tl_done();

        test_writer();
        test_reader_values();
        test_reader_garbage();
        test_host_messages();
        test_collectors();
        test_gpu();
        test_cloudinit();
        test_hello();
        test_files_and_log();
        test_port();

        hd_run(rm, NULL, NULL);
        free(fixtures);
        return tl_done();
}

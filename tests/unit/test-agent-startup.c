/* test-agent-startup.c — the agent's startup script runner (agent/startup.c)
 * on a fake state folder: a script that succeeds, one that exits non-zero,
 * one that outlives its time limit (its whole process group is killed), one
 * that ignores SIGTERM, output over 64 KiB (the end is kept and reported),
 * output that escaping makes too long for one line, a script that cannot be
 * run, cloud-init that never finishes, the agent stopped mid-run, and the
 * rule that matters most: a script that ran is not run again (a record left
 * "running" by a crash is closed as failed, not re-run). The "startup"
 * message built from each record is read back with jansson, as hostd does. */
#include "agent/cloudinit.c"
#include "agent/json_read.c"
#include "agent/json_write.c"
#include "agent/log.c"
#include "agent/messages.c"
#include "agent/spawn.c"
#include "agent/startup.c"

#include "common/common.h"
#include "tests/fixture.h"

#include <jansson.h>

static char tmpdir[] = "/tmp/hostd-test-agent-startup-XXXXXX";
static char *fixtures, *done_run, *pending_run;
static int case_no;

/* A fresh state folder and a script with this body (mode 0700). */
static ag_startup_cfg setup(const char *body, char **script, char **state)
{
        hd_error err = {0};

        case_no++;
        *script = hd_asprintf("%s/script-%d", tmpdir, case_no);
        *state = hd_asprintf("%s/state-%d", tmpdir, case_no);
        if (hd_write_file_atomic(*script, body, strlen(body), 0700, &err) < 0)
                printf("# %s\n", err.message);
        return (ag_startup_cfg){.script = *script, .state_dir = *state, .run = done_run, .workspace_id = "ws-1",
                                .timeout_s = 30, .ci_wait_s = 5, .kill_grace_ms = 300};
}

/* The message hostd would get for the record in state, parsed. */
static json_t *message(const char *state, size_t *line_len)
{
        static char buf[AG_LINE_MAX + 1];
        ag_startup_record r;
        ssize_t n;

        if (ag_startup_read(state, &r) < 0)
                return NULL;
        n = ag_startup_message(buf, sizeof(buf), &r, state);
        if (line_len)
                *line_len = n < 0 ? 0 : (size_t)n;
        return n < 0 ? NULL : json_loads(buf, 0, NULL);
}

static const char *str(json_t *j, const char *key)
{
        return json_string_value(json_object_get(j, key));
}

static long long num(json_t *j, const char *key)
{
        json_t *v = json_object_get(j, key);

        return json_is_integer(v) ? json_integer_value(v) : -999;
}

static bool process_gone(pid_t pid);

/* A file's text, or NULL (caller frees). */
static char *slurp(const char *path)
{
        char *text = NULL;
        hd_error err = {0};
        size_t len;

        return hd_read_file(path, 1 << 20, &text, &len, &err) < 0 ? NULL : text;
}

/* Has the process whose pid the file holds ended? */
static bool pidfile_gone(const char *pidfile)
{
        _cleanup_free_ char *text = slurp(pidfile);

        return text && process_gone((pid_t)atoi(text));
}

static bool process_gone(pid_t pid)
{
        char path[64], stat[512];
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        n = ag_read_file(path, stat, sizeof(stat));
        /* Gone, or a zombie waiting for init to reap it. */
        return n < 0 || (strrchr(stat, ')') && strrchr(stat, ')')[2] == 'Z');
}

static void test_success(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL;
        ag_startup_cfg c = setup("#!/bin/sh\necho \"hello from $HOSTD_WORKSPACE_ID\"\necho to-stderr >&2\n"
                                 "pwd\nread x || echo stdin-empty\n", &script, &state);
        ag_startup_record r;
        time_t before = time(NULL);
        json_t *j;

        CHECK(ag_startup_due(&c), "a script with no record is due");
        CHECK(ag_startup_run(&c) == 0, "the runner records a result");
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_SUCCEEDED && r.exit_status == 0 && r.signal == 0,
              "a script that exits 0 has succeeded");
        CHECK(r.started_at >= before && r.finished_at >= r.started_at && r.timeout_s == 30,
              "the record has the start and end times and the time limit");
        CHECK_STR(r.workspace_id, "ws-1", "the record names the workspace");
        j = message(state, NULL);
        CHECK_STR(str(j, "type"), "startup", "the result is a startup message");
        CHECK_STR(str(j, "status"), "succeeded", "it says succeeded");
        CHECK(num(j, "exit_status") == 0 && json_is_null(json_object_get(j, "signal")), "with exit status 0, no signal");
        CHECK_STR(str(j, "output"), "hello from ws-1\nto-stderr\n/\nstdin-empty\n",
                  "stdout and stderr are captured, with the workspace id in the environment, cwd / and stdin empty");
        CHECK(num(j, "output_bytes") == 40 && json_is_false(json_object_get(j, "output_truncated")),
              "the output's length is reported, not truncated");
        json_decref(j);

        CHECK(!ag_startup_due(&c), "after a run the script is not due again (the next boot)");
        {
                ag_startup_cfg other = c;
                other.workspace_id = "ws-2";
                CHECK(ag_startup_due(&other), "a record of another workspace (an image made from a disk) does not count");
        }
}

static void test_second_boot(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL, *count = hd_path_join(tmpdir, "count");
        _cleanup_free_ char *body = hd_asprintf("#!/bin/sh\necho x >> %s\n", count);
        ag_startup_cfg c = setup(body, &script, &state);
        _cleanup_free_ char *text = NULL;

        /* What the agent does at each start: run only when due. */
        for (int boot = 0; boot < 3; boot++)
                if (ag_startup_due(&c))
                        ag_startup_run(&c);
        text = slurp(count);
        CHECK_STR(text, "x\n", "over three boots the script ran once");
}

static void test_failure(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL;
        ag_startup_cfg c = setup("#!/bin/sh\necho about to fail\nexit 3\n", &script, &state);
        ag_startup_record r;
        json_t *j;

        ag_startup_run(&c);
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_FAILED && r.exit_status == 3,
              "a script that exits 3 has failed with exit status 3");
        j = message(state, NULL);
        CHECK(j && strcmp(str(j, "status"), "failed") == 0 && num(j, "exit_status") == 3 &&
                      strcmp(str(j, "output"), "about to fail\n") == 0,
              "the message says failed, exit 3, with the output");
        json_decref(j);
}

static void test_timeout(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL, *pidfile = hd_path_join(tmpdir, "bg.pid");
        _cleanup_free_ char *body = hd_asprintf("#!/bin/sh\nsleep 60 &\necho $! > %s\necho started\nsleep 60\n", pidfile);
        ag_startup_cfg c = setup(body, &script, &state);
        ag_startup_record r;
        int64_t start = ag_mono_ms();
        json_t *j;

        c.timeout_s = 1;
        ag_startup_run(&c);
        CHECK(ag_mono_ms() - start < 5000, "the runner ends a script at its time limit");
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_TIMED_OUT && r.signal == SIGTERM &&
                      r.exit_status == -1,
              "it is timed out, ended by SIGTERM");
        CHECK(pidfile_gone(pidfile), "a process the script started in the background is ended too");
        j = message(state, NULL);
        CHECK(j && strcmp(str(j, "status"), "timed_out") == 0 && num(j, "timeout_s") == 1 &&
                      json_is_null(json_object_get(j, "exit_status")) && num(j, "signal") == SIGTERM &&
                      strcmp(str(j, "output"), "started\n") == 0,
              "the message says timed_out, the limit, the signal and the output so far");
        json_decref(j);
        free(script);
        free(state);

        c = setup("#!/bin/sh\ntrap '' TERM\nsleep 60\n", &script, &state);
        c.timeout_s = 1;
        start = ag_mono_ms();
        ag_startup_run(&c);
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_TIMED_OUT && r.signal == SIGKILL &&
                      ag_mono_ms() - start < 5000,
              "a script that ignores SIGTERM is killed with SIGKILL after the grace time");
}

static void test_truncation(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL;
        ag_startup_cfg c = setup("#!/bin/sh\ni=0\nwhile [ $i -lt 10000 ]; do printf 'line %05d\\n' $i; i=$((i+1)); done\n",
                                 &script, &state);
        const char *out;
        size_t line = 0;
        json_t *j;

        ag_startup_run(&c);
        j = message(state, &line);
        out = str(j, "output");
        CHECK(num(j, "output_bytes") == 110000, "the whole output's length is recorded (110000 bytes)");
        CHECK(json_is_true(json_object_get(j, "output_truncated")) && out && strlen(out) <= AG_STARTUP_OUTPUT_MAX &&
                      strlen(out) > 56000,
              "the message carries the output's end, nearly 64 KiB of text, and says it was truncated");
        CHECK(out && strlen(out) >= 11 && strcmp(out + strlen(out) - 11, "line 09999\n") == 0,
              "the output's end is its last line");
        CHECK(line <= AG_LINE_MAX, "the message fits in one protocol line");
        json_decref(j);
        free(script);
        free(state);

        /* Control characters take six bytes each once escaped. */
        c = setup("#!/bin/sh\nhead -c 70000 /dev/zero | tr '\\0' '\\001'\nprintf 'end\\0nul\\n'\n", &script, &state);
        ag_startup_run(&c);
        j = message(state, &line);
        out = str(j, "output");
        CHECK(j && line <= AG_LINE_MAX && json_is_true(json_object_get(j, "output_truncated")),
              "output that escaping makes longer than a line is cut further, and still says truncated");
        CHECK(out && strlen(out) > 8000 && strcmp(out + strlen(out) - 10, "end\xef\xbf\xbdnul\n") == 0,
              "its end is kept, with a NUL byte shown as U+FFFD");
        json_decref(j);
}

static void test_cannot_run(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL;
        ag_startup_cfg c = setup("#!/bin/sh\necho hi\n", &script, &state);
        ag_startup_record r;

        chmod(script, 0600);
        ag_startup_run(&c);
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_FAILED && strstr(r.note, "cannot run") &&
                      strstr(r.note, "Permission denied"),
              "a script that cannot be executed has failed, and the note says why");
        CHECK(!ag_startup_due(&c), "and it is not tried again");
        free(script);
        free(state);
        c = setup("#!/bin/sh\n", &script, &state);
        unlink(script);
        CHECK(!ag_startup_due(&c), "without a script nothing is due");
}

static void test_cloud_init(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL;
        ag_startup_cfg c = setup("#!/bin/sh\necho ok\n", &script, &state);
        ag_startup_record r;
        int64_t start = ag_mono_ms();

        c.run = pending_run;
        c.ci_wait_s = 1;
        ag_startup_run(&c);
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_SUCCEEDED && ag_mono_ms() - start >= 1000 &&
                      strcmp(r.note, "cloud-init had not finished after 1 s; the script ran anyway") == 0,
              "while cloud-init runs the script waits, at most ci_wait_s, then runs with a note");
        free(script);
        free(state);
        c = setup("#!/bin/sh\necho ok\n", &script, &state);
        ag_startup_run(&c);
        CHECK(ag_startup_read(state, &r) == 0 && r.note[0] == '\0', "after cloud-init finished there is no note");
}

static void test_interrupted(void)
{
        _cleanup_free_ char *script = NULL, *state = NULL, *pidfile = hd_path_join(tmpdir, "int.pid");
        _cleanup_free_ char *body = hd_asprintf("#!/bin/sh\necho $$ > %s\nsleep 60\n", pidfile);
        ag_startup_cfg c = setup(body, &script, &state);
        ag_startup_record r = {0};
        int64_t deadline;
        int status;
        pid_t runner = fork();

        if (runner == 0)
                _exit(ag_startup_run(&c) == 0 ? 0 : 1);
        for (deadline = ag_mono_ms() + 5000; ag_mono_ms() < deadline && access(pidfile, F_OK) != 0;)
                usleep(20000);
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_RUNNING, "while the script runs the record says running");
        {
                json_t *j = message(state, NULL);
                CHECK(j && strcmp(str(j, "status"), "running") == 0 && !json_object_get(j, "output") &&
                              num(j, "started_at") > 0,
                      "the running message has the start time and no output");
                json_decref(j);
        }
        kill(runner, SIGTERM);
        waitpid(runner, &status, 0);
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_FAILED &&
                      strstr(r.note, "interrupted: the agent was stopped"),
              "SIGTERM to the runner ends the script and records it as interrupted");
        CHECK(pidfile_gone(pidfile), "the script is gone");

        /* A crash leaves "running" behind: the next start closes it, once. */
        r.status = AG_SU_RUNNING;
        r.note[0] = '\0';
        ag_startup_write(state, &r);
        CHECK(!ag_startup_due(&c), "a record left running after a crash is not run again");
        CHECK(ag_startup_read(state, &r) == 0 && r.status == AG_SU_FAILED && strstr(r.note, "interrupted: the guest"),
              "it is closed as failed, saying it was interrupted");
}

int main(void)
{
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};

        fixtures = tl_fixtures_dir("agent");
        if (!CHECK(fixtures != NULL, "tests/fixtures/agent is found") || !CHECK(mkdtemp(tmpdir) != NULL, "temp dir"))
                return tl_done();
        done_run = hd_path_join(fixtures, "cloudinit/done");
        pending_run = hd_path_join(fixtures, "cloudinit/pending");

        test_success();
        test_second_boot();
        test_failure();
        test_timeout();
        test_truncation();
        test_cannot_run();
        test_cloud_init();
        test_interrupted();

        hd_run(rm, NULL, NULL);
        free(done_run);
        free(pending_run);
        free(fixtures);
        return tl_done();
}

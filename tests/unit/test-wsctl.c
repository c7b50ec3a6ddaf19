/* test-wsctl.c — wsctl without hostd: its output helpers, key files, ssh
 * command lines and config blocks, and whole commands run through
 * wsctl_main. The test includes every wsctl source but main.c and http.c
 * (the libcurl file) and answers HTTP requests itself: each request is
 * recorded, each answer comes from a queue whose last entry repeats. Event
 * streams come from a queue of their own; with none queued hostd has no
 * event stream (404), and when a queue runs out the user pressed ^C. */
#include "tools/wsctl/audit.c"
#include "tools/wsctl/cli.c"
#include "tools/wsctl/config.c"
#include "tools/wsctl/format.c"
#include "tools/wsctl/gpus.c"
#include "tools/wsctl/idle.c"
#include "tools/wsctl/images.c"
#include "tools/wsctl/keys.c"
#include "tools/wsctl/login.c"
#include "tools/wsctl/quota.c"
#include "tools/wsctl/request.c"
#include "tools/wsctl/sse.c"
#include "tools/wsctl/ssh.c"
#include "tools/wsctl/startup.c"
#include "tools/wsctl/templates.c"
#include "tools/wsctl/tokens.c"
#include "tools/wsctl/users.c"
#include "tools/wsctl/wait.c"
#include "tools/wsctl/watch.c"
#include "tools/wsctl/workspaces.c"

#include "tests/testlib.h"

#include <stdarg.h>
#include <sys/stat.h>

/* ---- the fake transport -------------------------------------------------- */

#define UNREACHABLE (-1L)

static struct {
        long status;
        const char *body;
} answers[16];
static size_t nanswers, next_answer;
static hd_buf requests = HD_BUF_INIT; /* "METHOD PATH[ BODY]\n" per request */
static char last_server[256];         /* where the last request went: the server after login, "" the socket */

int wsctl_http_send(wsctl_ctx *ctx, const char *method, const char *path, const char *body, long timeout_ms,
                    wsctl_reply *reply, hd_error *err)
{
        size_t i = next_answer < nanswers ? next_answer++ : nanswers - 1;

        hd_buf_appendf(&requests, "%s %s%s%s\n", method, path, body ? " " : "", body ? body : "");
        snprintf(last_server, sizeof(last_server), "%s", wsctl_remote(ctx) ? ctx->conf.server : "");
        if (nanswers == 0 || answers[i].status == UNREACHABLE) {
                _cleanup_free_ char *msg = wsctl_unreachable_message(ctx->socket_path, ENOENT);
                return hd_error_set(err, HD_E_IO, "%s", msg);
        }
        reply->status = answers[i].status;
        reply->body = hd_strdup(answers[i].body);
        return 0;
}

void wsctl_http_close(wsctl_ctx *ctx)
{
}

static void answer(long status, const char *body)
{
        answers[nanswers].status = status;
        answers[nanswers].body = body;
        nanswers++;
}

/* ---- the fake event stream ------------------------------------------------ */

static struct {
        long status;
        const char *body;
        bool drop; /* after the body the connection breaks (else hostd ends it) */
} streams[8];
static size_t nstreams, next_stream;
static hd_buf stream_requests = HD_BUF_INIT; /* "PATH[ Last-Event-ID: N]\n" per stream */

int wsctl_http_stream(wsctl_ctx *ctx, const char *path, const char *last_event_id, long timeout_ms,
                      wsctl_stream_fn fn, void *opaque, wsctl_reply *reply, hd_error *err)
{
        size_t len;

        hd_buf_appendf(&stream_requests, "%s%s%s\n", path, last_event_id ? " Last-Event-ID: " : "",
                       last_event_id ? last_event_id : "");
        if (nstreams == 0) {
                reply->status = 404;
                reply->body = hd_strdup("{\"error\":{\"code\":\"not_found\",\"message\":\"no such path\"}}");
                return 0;
        }
        if (next_stream >= nstreams) {
                wsctl_interrupted = 1;
                return hd_error_set(err, HD_E_IO, "interrupted");
        }
        len = strlen(streams[next_stream].body ? streams[next_stream].body : "");
        reply->status = streams[next_stream].status;
        if (reply->status == UNREACHABLE) {
                _cleanup_free_ char *msg = wsctl_unreachable_message(ctx->socket_path, ECONNREFUSED);
                next_stream++;
                return hd_error_set(err, HD_E_IO, "%s", msg);
        }
        if (reply->status != 200) {
                reply->body = hd_strdup(streams[next_stream++].body);
                return 0;
        }
        /* In pieces of 5 bytes: lines and CR LF pairs split anywhere. */
        for (size_t i = 0; i < len; i += 5)
                if (fn(opaque, streams[next_stream].body + i, len - i < 5 ? len - i : 5))
                        return next_stream++, 1;
        if (streams[next_stream++].drop)
                return hd_error_set(err, HD_E_IO, "request to hostd failed: connection reset");
        return 0;
}

static void stream(long status, const char *body, bool drop)
{
        streams[nstreams].status = status;
        streams[nstreams].body = body;
        streams[nstreams].drop = drop;
        nstreams++;
}

static void reset(void)
{
        nanswers = next_answer = 0;
        hd_buf_reset(&requests);
        hd_buf_append(&requests, "");
        nstreams = next_stream = 0;
        hd_buf_reset(&stream_requests);
        hd_buf_append(&stream_requests, "");
        wsctl_interrupted = 0;
}

typedef struct result {
        int rc;
        char *out, *err;
} result;

static void result_free(result *r)
{
        free(r->out);
        free(r->err);
}

/* Run wsctl with the arguments (NULL-terminated) on captured output. */
static result run(const char *arg, ...)
{
        char *argv[32] = {hd_strdup("wsctl")};
        size_t outlen, errlen;
        int argc = 1;
        result r = {0};
        va_list ap;

        va_start(ap, arg);
        for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
                argv[argc++] = hd_strdup(a);
        va_end(ap);
        wsctl_ctx ctx = {
                .out = open_memstream(&r.out, &outlen),
                .err = open_memstream(&r.err, &errlen),
                .poll_ms = 20,
        };
        r.rc = wsctl_main(&ctx, argc, argv);
        fclose(ctx.out);
        fclose(ctx.err);
        for (int i = 0; i < argc; i++)
                free(argv[i]);
        return r;
}

#define WS(state) "{\"name\":\"dev\",\"state\":\"" state "\"}"
#define WS_READY                                                                                           \
        "{\"name\":\"dev\",\"state\":\"ready\",\"ssh\":{\"host\":\"10.77.0.5\",\"port\":2222,\"user\":\"alice\"}," \
        "\"ssh_command\":\"ssh -p 2222 alice@10.77.0.5\"}"

static int count(const char *hay, const char *needle)
{
        int n = 0;

        for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p++)
                n++;
        return n;
}

static char tmpdir[] = "/tmp/hostd-test-wsctl-XXXXXX";

static char *write_file(const char *name, const char *text)
{
        char *path = hd_path_join(tmpdir, name);
        hd_error err = {0};

        if (hd_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
                printf("# cannot write %s: %s\n", path, err.message);
        return path;
}

/* ---- pure helpers -------------------------------------------------------- */

static void test_table(void)
{
        _cleanup_table_ wsctl_table t = WSCTL_TABLE_INIT(3);
        _cleanup_free_ char *text = NULL;

        wsctl_table_add(&t, (const char *const[]){"NAME", "STATE", "ADDRESS"});
        wsctl_table_add(&t, (const char *const[]){"a-very-long-workspace-name", "ready", "10.0.0.5"});
        wsctl_table_add(&t, (const char *const[]){"x", "provisioning", ""});
        wsctl_table_add(&t, (const char *const[]){"é", "ok", "-"});
        text = wsctl_table_render(&t);
        CHECK_STR(text,
                  "NAME                        STATE         ADDRESS\n"
                  "a-very-long-workspace-name  ready         10.0.0.5\n"
                  "x                           provisioning\n"
                  "é                           ok            -\n",
                  "table columns line up on the widest cell, UTF-8 counted by characters, no trailing blanks");
}

static void test_sizes_and_ages(void)
{
        char buf[32];

        wsctl_format_bytes(2ull << 30, buf, sizeof(buf));
        CHECK_STR(buf, "2G", "whole GiB print without decimals");
        wsctl_format_bytes(512ull << 20, buf, sizeof(buf));
        CHECK_STR(buf, "512M", "sizes under a GiB print in MiB");
        wsctl_format_bytes(1536ull << 20, buf, sizeof(buf));
        CHECK_STR(buf, "1.5G", "a partial GiB prints one decimal");
        wsctl_format_bytes(123456789, buf, sizeof(buf));
        CHECK_STR(buf, "117.7M", "odd byte counts round to one decimal");
        wsctl_format_bytes(900, buf, sizeof(buf));
        CHECK_STR(buf, "900B", "small sizes print in bytes");
        wsctl_format_bytes(3ull << 40, buf, sizeof(buf));
        CHECK_STR(buf, "3T", "TiB are used for very large disks");

        wsctl_format_age(45, buf, sizeof(buf));
        CHECK_STR(buf, "45s", "ages under a minute in seconds");
        wsctl_format_age(5 * 60 + 59, buf, sizeof(buf));
        CHECK_STR(buf, "5m", "ages under an hour in whole minutes");
        wsctl_format_age(2 * 3600 + 10, buf, sizeof(buf));
        CHECK_STR(buf, "2h", "ages under a day in whole hours");
        wsctl_format_age(3 * 86400 + 7200, buf, sizeof(buf));
        CHECK_STR(buf, "3d", "older ages in days");
        wsctl_format_age(-30, buf, sizeof(buf));
        CHECK_STR(buf, "0s", "a clock slightly ahead of ours is no negative age");

        CHECK(wsctl_parse_time("1970-01-02T00:00:00Z") == 86400, "RFC 3339 UTC times parse");
        CHECK(wsctl_parse_time("1970-01-02T00:00:00.250Z") == 86400, "fractions of a second are accepted");
        CHECK(wsctl_parse_time("1970-01-02 00:00:00") == -1 && wsctl_parse_time(NULL) == -1,
              "malformed times are refused");
}

static void test_quoting_and_paths(void)
{
        _cleanup_free_ char *plain = wsctl_shell_quote("alice@10.0.0.5");
        _cleanup_free_ char *spaced = wsctl_shell_quote("echo it's here");
        _cleanup_free_ char *empty = wsctl_shell_quote("");
        _cleanup_free_ char *path = wsctl_path("workspaces", "a b/../c", "/start");

        CHECK_STR(plain, "alice@10.0.0.5", "plain words are printed as they are");
        CHECK_STR(spaced, "'echo it'\\''s here'", "words with blanks or quotes are single-quoted");
        CHECK_STR(empty, "''", "an empty word stays visible");
        CHECK_STR(path, "/v1/workspaces/a%20b%2F..%2Fc/start", "names are percent-escaped in URLs");
}

static void test_replies(void)
{
        wsctl_reply r = {.status = 409, .body = (char *)"{\"error\":{\"code\":\"conflict\",\"message\":\"name taken\"}}"};
        _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL, *gone = NULL, *denied = NULL;

        r.json = json_loads(r.body, 0, NULL);
        m1 = wsctl_error_message(&r);
        CHECK_STR(m1, "name taken", "the server's error message is shown as it is");
        json_decref(r.json);
        r = (wsctl_reply){.status = 502, .body = (char *)"<html>Bad gateway</html>\nmore"};
        m2 = wsctl_error_message(&r);
        CHECK_STR(m2, "hostd answered HTTP 502: <html>Bad gateway</html>", "a non-JSON error shows status and first line");
        r = (wsctl_reply){.status = 500, .body = (char *)""};
        m3 = wsctl_error_message(&r);
        CHECK_STR(m3, "hostd answered HTTP 500", "an empty error body still names the status");

        CHECK(wsctl_exit_for_status(200, false) == 0 && wsctl_exit_for_status(204, true) == 0, "2xx is success");
        CHECK(wsctl_exit_for_status(404, false) == 1 && wsctl_exit_for_status(500, true) == 1,
              "other errors exit 1");
        CHECK(wsctl_exit_for_status(409, true) == 4, "a 409 on start/stop/delete means wrong state: exit 4");
        CHECK(wsctl_exit_for_status(409, false) == 1, "a 409 on create (name taken) exits 1");

        gone = wsctl_unreachable_message("/run/hostd/hostd.sock", ENOENT);
        denied = wsctl_unreachable_message("/run/hostd/hostd.sock", EACCES);
        CHECK_CONTAINS(gone, "/run/hostd/hostd.sock does not exist (is hostd running?", "a missing socket is named");
        CHECK_CONTAINS(denied, "permission denied on /run/hostd/hostd.sock (are you in group hostd?",
                       "permission denied hints at the hostd group");
}

/* ---- keys ---------------------------------------------------------------- */

static void test_keys(void)
{
        _cleanup_free_ char *two = write_file("two.pub", "# laptop and desktop\r\n"
                                                         "ssh-ed25519 AAAAC3Nza alice@laptop\r\n"
                                                         "\n"
                                                         "   sk-ssh-ed25519@openssh.com AAAAGnNr alice@yubikey  \n");
        _cleanup_free_ char *priv = write_file("id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n");
        _cleanup_free_ char *junk = write_file("junk.pub", "ssh-ed25519 AAAA ok\nhello world\n");
        _cleanup_free_ char *empty = write_file("empty.pub", "# nothing\n\n");
        _cleanup_(json_decrefp) json_t *keys = json_array();
        _cleanup_free_ char *home = hd_path_join(tmpdir, "home"), *ssh = hd_path_join(home, ".ssh");
        _cleanup_free_ char *found = NULL, *none = NULL, *ecdsa = NULL;
        hd_error err = {0};

        CHECK(wsctl_read_key_file(two, keys, &err) == 0 && json_array_size(keys) == 2,
              "a key file with several keys, comments, blank lines and CRLF gives every key");
        CHECK_STR(json_string_value(json_array_get(keys, 0)), "ssh-ed25519 AAAAC3Nza alice@laptop",
                  "a key line is sent without its line ending");
        CHECK_STR(json_string_value(json_array_get(keys, 1)), "sk-ssh-ed25519@openssh.com AAAAGnNr alice@yubikey",
                  "security-key keys are accepted, blanks around them trimmed");
        CHECK(wsctl_read_key_file(priv, keys, &err) == -1, "a private key is never sent");
        CHECK_CONTAINS(err.message, "is a private key: pass the public key instead", "the refusal says what to pass");
        CHECK(wsctl_read_key_file(junk, keys, &err) == -1, "a line that is no public key is refused");
        CHECK_CONTAINS(err.message, "junk.pub line 2 is not an SSH public key", "the bad line is named");
        CHECK(wsctl_read_key_file(empty, keys, &err) == -1, "a file without keys is refused");

        hd_mkdir_p(ssh, 0700, NULL);
        none = wsctl_default_key_file(home, &err);
        CHECK(none == NULL, "no default key file when ~/.ssh has none");
        CHECK_CONTAINS(err.message, "pass --ssh-key FILE", "the error says how to give a key");
        ecdsa = write_file("home/.ssh/id_ecdsa.pub", "ecdsa-sha2-nistp256 AAAAE2 a@b\n");
        free(write_file("home/.ssh/id_rsa.pub", "ssh-rsa AAAAB3 a@b\n"));
        found = wsctl_default_key_file(home, &err);
        CHECK_STR(found, ecdsa, "id_ecdsa.pub is preferred over id_rsa.pub when there is no id_ed25519.pub");
}

/* ---- ssh ----------------------------------------------------------------- */

static void test_ssh_argv(void)
{
        wsctl_ssh_target t = {.name = "dev", .host = "10.77.0.5", .user = "alice", .port = 2222};
        char *extra[] = {(char *)"-i", (char *)"/k/id", (char *)"uname -a"};
        _cleanup_(json_decrefp) json_t *evil = json_loads(
                "{\"name\":\"dev\",\"ssh\":{\"host\":\"-oProxyCommand=sh\",\"port\":22,\"user\":\"a\"}}", 0, NULL);
        _cleanup_(json_decrefp) json_t *none = json_loads("{\"name\":\"dev\",\"state\":\"stopped\",\"ssh\":null}", 0, NULL);
        _cleanup_buf_ hd_buf joined = HD_BUF_INIT;
        wsctl_ssh_target bad;
        hd_error err = {0};
        char **argv;

        argv = wsctl_ssh_argv(&t, "/home/a/.config/hostd/known_hosts", "ip netns  exec hostd-test", extra, 3);
        for (char **a = argv; *a; a++)
                hd_buf_appendf(&joined, "%s|", *a);
        CHECK_STR(joined.data,
                  "ip|netns|exec|hostd-test|ssh|-o|StrictHostKeyChecking=accept-new|"
                  "-o|UserKnownHostsFile=/home/a/.config/hostd/known_hosts|-p|2222|alice@10.77.0.5|-i|/k/id|uname -a|",
                  "ssh argv: the wrapper's words, hostd's known_hosts, port, user@host, then the user's arguments");
        wsctl_argv_free(argv);

        hd_buf_reset(&joined);
        argv = wsctl_ssh_argv(&t, "/home/a b/known_hosts", NULL, NULL, 0);
        for (char **a = argv; *a; a++)
                hd_buf_appendf(&joined, "%s|", *a);
        CHECK_STR(joined.data,
                  "ssh|-o|StrictHostKeyChecking=accept-new|-o|UserKnownHostsFile=\"/home/a b/known_hosts\"|-p|2222|"
                  "alice@10.77.0.5|",
                  "without a wrapper ssh comes first; a known_hosts path with a blank is quoted for ssh");
        wsctl_argv_free(argv);

        CHECK(wsctl_ssh_target_of(evil, &bad, &err) == -1, "a host that would be read as an ssh option is refused");
        CHECK(wsctl_ssh_target_of(none, &bad, &err) == -1, "a workspace without an ssh address has no target");
        CHECK_CONTAINS(err.message, "has no SSH address yet (state stopped)", "the missing address names the state");
}

static void test_ssh_config(void)
{
        wsctl_ssh_target t = {.name = "dev", .host = "10.77.0.5", .user = "alice", .port = 22};
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;

        wsctl_ssh_config_block(&b, &t, "/root/.config/hostd/known_hosts", NULL);
        CHECK_STR(b.data,
                  "Host dev.hostd\n"
                  "  HostName 10.77.0.5\n"
                  "  Port 22\n"
                  "  User alice\n"
                  "  UserKnownHostsFile /root/.config/hostd/known_hosts\n"
                  "  StrictHostKeyChecking accept-new\n",
                  "an ssh_config block for VS Code Remote-SSH");
        hd_buf_reset(&b);
        wsctl_ssh_config_block(&b, &t, "/k", "ip netns exec ns%1");
        CHECK_CONTAINS(b.data, "  ProxyCommand ip netns exec ns%%1 nc %h %p\n",
                       "with a wrapper the block connects through nc inside it, a literal % escaped");
}

/* ---- whole commands ------------------------------------------------------ */

static void test_usage_errors(void)
{
        static const struct {
                const char *args[9];
                const char *message;
                const char *what;
        } cases[] = {
                {{"frob"}, "unknown command 'frob'", "an unknown command is a usage error"},
                {{"--frob", "list"}, "unknown option --frob", "an unknown global option is a usage error"},
                {{"list", "--all"}, "list: unknown option --all", "an unknown command option is a usage error"},
                {{"create", "--image"}, "option --image needs a value", "a missing option value is named"},
                {{"create", "--image", "deb", "--vcpus", "two", "dev"}, "--vcpus two is not a number",
                 "--vcpus must be a number"},
                {{"create", "--image", "deb", "--memory", "4096", "dev"}, "--memory 4096: give a whole number of MiB",
                 "a memory size needs a unit"},
                {{"create", "--image", "deb", "--disk", "500M", "dev"}, "--disk 500M: give a whole number of GiB",
                 "the disk is sized in whole GiB"},
                {{"create", "--image", "deb", "--wait", "--timeout", "soon", "dev"}, "--timeout soon is not a duration",
                 "--timeout must be a duration"},
                {{"create", "dev"}, "--image or --template is required (or set WSCTL_IMAGE)", "create needs an image"},
                {{"show"}, "show: missing NAME", "a missing NAME is a usage error"},
                {{"show", "a", "b"}, "show: unexpected argument 'b'", "an extra operand is a usage error"},
                {{"start", "--force", "dev"}, "start: unknown option --force", "--force belongs to stop only"},
                {{"images", "import", "deb", "/x.img"}, "--format qcow2 or --format raw is required",
                 "import needs an explicit format"},
                {{"images", "import", "--format", "raw", "--sha256", "xyz", "deb", "/x"}, "--sha256 wants 64 hex digits",
                 "a malformed checksum is refused before sending"},
                {{"ssh", "dev", "-v"}, "ssh: unknown option -v",
                 "ssh's own options go after --, so a stray one never starts a session"},
                {{"images", "rename"}, "images: unknown subcommand 'rename'", "an unknown images subcommand"},
                {{"create", "--image", "deb", "--gpus", "17", "dev"}, "--gpus 17: give a number of GPUs from 0 to 16",
                 "more than 16 GPUs is refused before sending"},
                {{"create", "--image", "deb", "--gpus", "-1", "dev"}, "--gpus -1: give a number of GPUs from 0 to 16",
                 "a negative GPU count is refused"},
                {{"create", "--image", "deb", "--gpus", "two", "dev"}, "--gpus two: give a number of GPUs",
                 "--gpus must be a number"},
                {{"create", "--image", "deb", "--gpus", "2", "--gpu-numa", "strict", "dev"},
                 "--gpu-numa strict: give required or preferred", "--gpu-numa takes required or preferred only"},
                {{"create", "--image", "deb", "--gpus", "2", "--gpu-model", "", "dev"}, "--gpu-model wants a model name",
                 "an empty --gpu-model is refused"},
                {{"create", "--image", "deb", "--gpu-model", "H100", "dev"},
                 "--gpu-model and --gpu-numa need --gpus N (1 or more)", "a GPU model without a GPU count is refused"},
                {{"create", "--image", "deb", "--gpus", "0", "--gpu-numa", "required", "dev"},
                 "--gpu-model and --gpu-numa need --gpus N", "a NUMA policy for zero GPUs is refused"},
                {{"gpus", "show"}, "gpus show: missing ADDRESS", "gpus show needs an address"},
                {{"gpus", "clear", "3b:00"}, "gpus clear: '3b:00' is not a PCI address (e.g. 0000:3b:00.0)",
                 "a malformed PCI address is refused before sending"},
                {{"gpus", "clear", "0000:3b:00.0/../x"}, "is not a PCI address",
                 "an address with a path in it is refused"},
                {{"gpus", "list", "extra"}, "gpus: unexpected argument 'extra'", "gpus list takes no operand"},
                {{"gpus", "reset"}, "gpus: unknown subcommand 'reset'", "an unknown gpus subcommand"},
                {{}, "no command given", "wsctl without a command is a usage error"},
        };

        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                const char *const *a = cases[i].args;
                result r;

                reset();
                r = run(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], NULL);
                CHECK(r.rc == WSCTL_EXIT_USAGE && requests.len == 0, cases[i].what);
                CHECK_CONTAINS(r.err, cases[i].message, "the usage error says what is wrong");
                result_free(&r);
        }
}

static void test_help(void)
{
        result r = run("--help", NULL);

        CHECK(r.rc == 0, "--help succeeds");
        CHECK_CONTAINS(r.out, "  4  the workspace failed, or is not in the state the command needs\n",
                       "--help documents the exit codes");
        CHECK_CONTAINS(r.out, "WSCTL_SSH_WRAPPER", "--help documents the environment");
        result_free(&r);
        r = run("stop", "--help", NULL);
        CHECK(r.rc == 0, "a command's --help succeeds");
        CHECK_CONTAINS(r.out, "usage: wsctl stop [--force] [--wait [--timeout DUR]] NAME\n", "it starts with the usage");
        result_free(&r);
        r = run("help", "create", NULL);
        CHECK_CONTAINS(r.out, "--gpus N [--gpu-model MODEL] [--gpu-numa required|preferred]",
                       "create's usage names the GPU options");
        CHECK_CONTAINS(r.out, "  --gpu-numa POLICY required: all GPUs on one NUMA node, or fail;\n",
                       "create's help explains the NUMA policies");
        result_free(&r);
        r = run("--help", NULL);
        CHECK_CONTAINS(r.out, "  gpus         list the host's GPUs", "the command list names gpus");
        result_free(&r);
        r = run("help", "ssh", NULL);
        CHECK_CONTAINS(r.out, "usage: wsctl ssh [--print] NAME", "wsctl help CMD is CMD --help");
        result_free(&r);
        r = run("--version", NULL);
        CHECK_STR(r.out, "wsctl " HOSTD_VERSION "\n", "--version prints the version");
        result_free(&r);
}

static void test_templates(void)
{
        _cleanup_free_ char *keys = write_file("tkeys.pub", "ssh-ed25519 AAAA1 a@x\n");
        _cleanup_free_ char *tpl = write_file("small.json", "{\"name\": \"small\", \"image\": \"deb\"}\n");
        _cleanup_free_ char *bad = write_file("bad.json", "{\"name\": \"small\",}");
        result r;

        reset();
        answer(201, "{\"name\":\"small\",\"version\":\"ab12\",\"created\":true}");
        r = run("template", "push", tpl, NULL);
        CHECK(r.rc == 0, "template push succeeds on 201");
        CHECK_STR(requests.data, "POST /v1/templates {\"name\":\"small\",\"image\":\"deb\"}\n",
                  "template push sends the file's template as the body");
        CHECK_STR(r.out, "pushed small version ab12\n", "push names the new version");
        result_free(&r);

        reset();
        answer(400, "{\"error\":{\"code\":\"invalid\",\"message\":\"2 errors\",\"details\":["
                    "{\"path\":\"vcpus\",\"reason\":\"must be between 1 and 256\"},"
                    "{\"path\":\"disk\",\"reason\":\"is required\"}]}}");
        r = run("template", "push", tpl, NULL);
        CHECK(r.rc != 0, "a refused template is a failure");
        CHECK_CONTAINS(r.err, "2 errors\n  vcpus: must be between 1 and 256\n  disk: is required",
                       "every error hostd found is printed, one per line");
        result_free(&r);

        reset();
        r = run("template", "push", bad, NULL);
        CHECK(r.rc != 0 && requests.len == 0, "a file that is not JSON is not sent");
        CHECK_CONTAINS(r.err, "bad.json: line 1", "the JSON error names the file and the line");
        result_free(&r);

        reset();
        answer(200, "{\"name\":\"small\",\"from\":\"aaaa\",\"to\":\"bbbb\",\"diff\":\"disk: 20G -> 40G\\n\"}");
        r = run("template", "diff", "small", "aaaa", NULL);
        CHECK_STR(requests.data, "GET /v1/templates/small/diff?from=aaaa\n", "diff passes FROM as a query");
        CHECK_STR(r.out, "aaaa -> bbbb\ndisk: 20G -> 40G\n", "diff prints the versions and the changes");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        setenv("WSCTL_IMAGE", "from-env", 1);
        r = run("create", "--ssh-key", keys, "--template", "small", "--disk", "40G", "dev", NULL);
        unsetenv("WSCTL_IMAGE");
        CHECK(r.rc == 0, "create --template succeeds on 202");
        CHECK_STR(requests.data,
                  "POST /v1/workspaces {\"ssh_keys\":[\"ssh-ed25519 AAAA1 a@x\"],\"disk_gib\":40,"
                  "\"name\":\"dev\",\"template\":\"small\"}\n",
                  "create --template sends the template and overrides, and no image from WSCTL_IMAGE");
        result_free(&r);
}

static void test_create(void)
{
        _cleanup_free_ char *keys = write_file("keys.pub", "ssh-ed25519 AAAA1 a@x\n# old\nssh-rsa AAAA2 a@y\n");
        _cleanup_free_ char *expected = hd_asprintf(
                "POST /v1/workspaces {\"ssh_keys\":[\"ssh-ed25519 AAAA1 a@x\",\"ssh-rsa AAAA2 a@y\"],\"vcpus\":4,"
                "\"memory_mib\":4096,\"disk_gib\":40,\"user\":\"bob\",\"name\":\"dev\",\"image\":\"debian-12\"}\n");
        result r;

        reset();
        answer(202, WS("pending"));
        r = run("create", "--ssh-key", keys, "--vcpus", "4", "--memory", "4G", "--disk", "40G", "--user", "bob",
                "--image", "debian-12", "dev", NULL);
        CHECK(r.rc == 0, "create succeeds on 202");
        CHECK_STR(requests.data, expected, "create posts the keys, sizes in MiB/GiB, user, name and image");
        CHECK_STR(r.out, "dev: pending\n", "without --wait create prints the state");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        setenv("WSCTL_IMAGE", "from-env", 1);
        r = run("--json", "create", "--ssh-key", keys, "dev", NULL);
        unsetenv("WSCTL_IMAGE");
        CHECK_CONTAINS(requests.data, "\"image\":\"from-env\"", "WSCTL_IMAGE is the default image");
        CHECK_STR(r.out, "{\n  \"name\": \"dev\",\n  \"state\": \"pending\"\n}\n", "--json prints hostd's answer");
        result_free(&r);

        reset();
        answer(409, "{\"error\":{\"code\":\"conflict\",\"message\":\"workspace 'dev' exists\"}}");
        r = run("create", "--image", "deb", "--ssh-key", keys, "dev", NULL);
        CHECK(r.rc == 1, "a name taken exits 1");
        CHECK_STR(r.err, "wsctl: workspace 'dev' exists\n", "the server's message is printed");
        result_free(&r);

        reset();
        r = run("create", "--image", "deb", "--ssh-key", "/nonexistent/key.pub", "dev", NULL);
        CHECK(r.rc == 1 && requests.len == 0, "a missing key file stops create before any request");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        r = run("create", "--image", "deb", "--ssh-key", keys, "--gpus", "2", "--gpu-model", "H100", "--gpu-numa",
                "required", "trainbox", NULL);
        CHECK(r.rc == 0, "create with GPUs succeeds on 202");
        CHECK_STR(requests.data,
                  "POST /v1/workspaces {\"ssh_keys\":[\"ssh-ed25519 AAAA1 a@x\",\"ssh-rsa AAAA2 a@y\"],\"gpus\":2,"
                  "\"gpu_model\":\"H100\",\"gpu_numa\":\"required\",\"name\":\"trainbox\",\"image\":\"deb\"}\n",
                  "create sends the GPU count, model and NUMA policy");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        r = run("create", "--image", "deb", "--ssh-key", keys, "dev", NULL);
        CHECK(r.rc == 0 && !strstr(requests.data, "gpu"), "create without --gpus sends no GPU field");
        result_free(&r);

        reset();
        answer(503, "{\"error\":{\"code\":\"no_resources\",\"message\":\"no free H100: 0 of 8 free\"}}");
        r = run("create", "--image", "deb", "--ssh-key", keys, "--gpus", "2", "--gpu-model", "H100", "--wait",
                "trainbox", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR, "no free GPU (503) exits 1");
        CHECK_STR(r.err, "wsctl: no free H100: 0 of 8 free\n", "the server's message says how many are free");
        CHECK(count(requests.data, "\n") == 1, "a refused create is not followed by --wait");
        result_free(&r);
}

#define GPU_LIST                                                                                                  \
        "{\"host_problem\":null,\"gpus\":["                                                                        \
        "{\"address\":\"0000:3b:00.0\",\"model\":\"GH100 [H100 SXM5 80GB]\",\"id\":\"10de:2330\",\"numa_node\":0,"  \
        "\"iommu_group\":14,\"driver\":\"vfio-pci\",\"reset_method\":\"flr bus\","                                 \
        "\"functions\":[\"0000:3b:00.0\"],\"state\":\"assigned\",\"workspace\":\"ws-3f9c0a1b2c3d4e5f\","            \
        "\"reason\":null},"                                                                                         \
        "{\"address\":\"0000:5d:00.0\",\"model\":\"GH100 [H100 SXM5 80GB]\",\"id\":\"10de:2330\",\"numa_node\":1,"  \
        "\"iommu_group\":27,\"driver\":\"nvidia\",\"reset_method\":\"flr bus\",\"functions\":[\"0000:5d:00.0\"],"    \
        "\"state\":\"free\",\"workspace\":null,\"reason\":null},"                                                   \
        "{\"address\":\"0000:03:00.0\",\"model\":\"AD102GL [RTX 6000 Ada]\",\"id\":\"10de:26b1\",\"numa_node\":-1,"  \
        "\"iommu_group\":3,\"driver\":null,\"reset_method\":null,"                                                 \
        "\"functions\":[\"0000:03:00.0\",\"0000:03:00.1\"],\"state\":\"unusable\",\"workspace\":null,"               \
        "\"reason\":\"shares IOMMU group 3 with 0000:04:00.0 Ethernet controller\"},"                                 \
        "{\"address\":\"0000:9a:00.0\",\"model\":\"10de:2330\",\"id\":\"10de:2330\",\"numa_node\":1,"             \
        "\"iommu_group\":40,\"state\":\"quarantined\",\"reason\":\"reset failed after ws-1 stopped: bus reset "       \
        "timed out\"}]}"

static void test_gpus(void)
{
        result r;

        reset();
        answer(200, GPU_LIST);
        r = run("gpus", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/gpus\n") == 0, "wsctl gpus is gpus list: GET /v1/gpus");
        CHECK_STR(r.out,
                  "ADDRESS       MODEL                   ID         NUMA  GROUP  STATE        WORKSPACE/REASON\n"
                  "0000:3b:00.0  GH100 [H100 SXM5 80GB]  10de:2330  0     14     assigned     ws-3f9c0a1b2c3d4e5f\n"
                  "0000:5d:00.0  GH100 [H100 SXM5 80GB]  10de:2330  1     27     free         -\n"
                  "0000:03:00.0  AD102GL [RTX 6000 Ada]  10de:26b1  -     3      unusable     shares IOMMU group 3 with "
                  "0000:04:00.0 Ethernet controller\n"
                  "0000:9a:00.0  10de:2330               10de:2330  1     40     quarantined  reset failed after ws-1 "
                  "stopped: bus reset timed out\n",
                  "gpus prints every GPU with its holder, or the full reason it cannot be used");
        result_free(&r);

        reset();
        answer(200, "{\"host_problem\":\"the IOMMU is off: add intel_iommu=on to the kernel command line\","
                    "\"gpus\":[{\"address\":\"0000:3b:00.0\",\"model\":\"GH100\",\"id\":\"10de:2330\",\"numa_node\":0,"
                    "\"iommu_group\":-1,\"state\":\"unusable\",\"reason\":\"the IOMMU is off\"}]}");
        r = run("gpus", "list", NULL);
        CHECK_STR(r.out,
                  "ADDRESS       MODEL  ID         NUMA  GROUP  STATE     WORKSPACE/REASON\n"
                  "0000:3b:00.0  GH100  10de:2330  0     -      unusable  the IOMMU is off\n"
                  "host: the IOMMU is off: add intel_iommu=on to the kernel command line\n",
                  "a host that refuses passthrough says why under the table; no IOMMU group shows as -");
        result_free(&r);

        reset();
        answer(200, "{\"host_problem\":\"ACS override is on (pcie_acs_override=)\",\"gpus\":[]}");
        r = run("gpus", NULL);
        CHECK_STR(r.out, "no GPUs on this host\nhost: ACS override is on (pcie_acs_override=)\n",
                  "without GPUs the host's problem is still printed");
        result_free(&r);

        reset();
        answer(200, GPU_LIST);
        r = run("gpus", "show", "03:00.0", NULL);
        CHECK(r.rc == 0, "gpus show finds a GPU by its short address");
        CHECK_STR(r.out,
                  "address:       0000:03:00.0\n"
                  "model:         AD102GL [RTX 6000 Ada]\n"
                  "id:            10de:26b1\n"
                  "state:         unusable\n"
                  "reason:        shares IOMMU group 3 with 0000:04:00.0 Ethernet controller\n"
                  "numa node:     -\n"
                  "iommu group:   3\n"
                  "functions:     0000:03:00.0, 0000:03:00.1\n"
                  "driver:        none (unbound)\n"
                  "reset method:  unknown\n",
                  "gpus show prints the GPU's functions, driver, reset method and reason");
        result_free(&r);

        reset();
        answer(200, GPU_LIST);
        r = run("gpus", "show", "0000:3B:00.0", NULL);
        CHECK(r.rc == 0 && strstr(r.out, "workspace:     ws-3f9c0a1b2c3d4e5f\n") &&
                      strstr(r.out, "driver:        vfio-pci\n") && strstr(r.out, "reset method:  flr bus\n"),
              "gpus show of an assigned GPU names its workspace; upper-case hex is accepted");
        result_free(&r);

        reset();
        answer(200, GPU_LIST);
        r = run("gpus", "show", "0000:aa:00.0", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR, "gpus show of an unknown address exits 1");
        CHECK_STR(r.err, "wsctl: no GPU 0000:aa:00.0 on this host (wsctl gpus lists them)\n", "and says so");
        result_free(&r);

        reset();
        answer(200, GPU_LIST);
        r = run("gpus", "refresh", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "POST /v1/gpus/refresh\n") == 0, "gpus refresh posts to /refresh");
        CHECK(strncmp(r.out, "ADDRESS", 7) == 0 && count(r.out, "\n") == 5, "and prints the new table");
        result_free(&r);

        reset();
        answer(200, GPU_LIST);
        r = run("gpus", "clear", "9a:00.0", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "POST /v1/gpus/0000:9a:00.0/clear\n") == 0,
              "gpus clear posts to /v1/gpus/ADDRESS/clear with the full address");
        result_free(&r);

        reset();
        answer(403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"clearing a GPU needs root on the host\"}}");
        r = run("gpus", "clear", "0000:9a:00.0", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR, "a refused clear (403) exits 1");
        CHECK_STR(r.err, "wsctl: clearing a GPU needs root on the host\n", "with the server's message");
        CHECK_STR(r.out, "", "and prints no table");
        result_free(&r);

        reset();
        answer(200, GPU_LIST);
        r = run("gpus", "--json", NULL);
        CHECK(r.rc == 0 && strstr(r.out, "\"host_problem\": null") && !strstr(r.out, "ADDRESS  "),
              "gpus --json prints hostd's JSON instead of the table");
        result_free(&r);
}

#define QUOTA_ME                                                                                                   \
        "{\"user\":\"alice\",\"groups\":[\"ml\"],\"quotas\":["                                                     \
        "{\"resource\":\"workspaces\",\"used\":2,\"limit\":3,\"source\":{\"scope\":\"group\",\"name\":\"ml\"}},"   \
        "{\"resource\":\"vcpus\",\"used\":4,\"limit\":8,\"source\":{\"scope\":\"user\",\"name\":\"alice\"}},"      \
        "{\"resource\":\"memory_mib\",\"used\":6144,\"limit\":65536,\"source\":{\"scope\":\"group\",\"name\":\"ml\"}}," \
        "{\"resource\":\"disk_gib\",\"used\":60,\"limit\":null,\"source\":null},"                                  \
        "{\"resource\":\"gpus\",\"model\":\"any\",\"used\":1,\"limit\":null,\"source\":null},"                     \
        "{\"resource\":\"gpus\",\"model\":\"H100\",\"used\":1,\"limit\":3,\"source\":{\"scope\":\"user\",\"name\":\"alice\"}}]}"
#define QUOTA_LIST                                                                                                 \
        "{\"quotas\":[{\"scope\":\"user\",\"name\":\"alice\",\"limits\":{\"vcpus\":8,\"gpus\":{\"H100\":3}}},"     \
        "{\"scope\":\"group\",\"name\":\"ml\",\"limits\":{\"workspaces\":3,\"memory_mib\":65536,\"disk_gib\":1024,"  \
        "\"gpus\":{\"A100\":1}}}]}"

static void test_quota(void)
{
        result r;

        reset();
        answer(200, QUOTA_ME);
        r = run("quota", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/quotas/me\n") == 0, "wsctl quota asks GET /v1/quotas/me");
        CHECK_STR(r.out,
                  "RESOURCE    USED  LIMIT      SOURCE\n"
                  "workspaces  2     3          group ml\n"
                  "vcpus       4     8          user alice\n"
                  "memory      6G    64G        group ml\n"
                  "disk        60G   unlimited  -\n"
                  "gpus any    1     unlimited  -\n"
                  "gpus H100   1     3          user alice\n",
                  "and prints each resource: use, limit (sizes with units) and where the limit comes from");
        result_free(&r);

        reset();
        answer(200, QUOTA_LIST);
        r = run("quota", "list", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/quotas\n") == 0, "quota list asks GET /v1/quotas");
        CHECK_STR(r.out,
                  "SCOPE  NAME   LIMITS\n"
                  "user   alice  vcpus=8 gpus:H100=3\n"
                  "group  ml     workspaces=3 memory=64G disk=1T gpus:A100=1\n",
                  "and prints each user and group with its limits");
        result_free(&r);

        reset();
        answer(200, QUOTA_LIST);
        answer(200, "{\"scope\":\"group\",\"name\":\"ml\",\"limits\":{\"workspaces\":3,\"vcpus\":16}}");
        r = run("quota", "set", "--group", "ml", "--vcpus", "16", "--memory", "128G", "--gpus", "H100=2", NULL);
        CHECK(r.rc == 0, "quota set exits 0");
        CHECK_STR(requests.data,
                  "GET /v1/quotas\n"
                  "PUT /v1/quotas/groups/ml {\"workspaces\":3,\"memory_mib\":131072,\"disk_gib\":1024,"
                  "\"gpus\":{\"A100\":1,\"H100\":2},\"vcpus\":16}\n",
                  "quota set changes the limits named and keeps the others");
        CHECK_STR(r.out, "group ml: workspaces=3 vcpus=16\n", "and prints the limits now set");
        result_free(&r);

        reset();
        answer(200, QUOTA_LIST);
        answer(200, "{}");
        r = run("quota", "unset", "--user", "alice", "--gpus", "H100", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/quotas\nPUT /v1/quotas/users/alice {\"vcpus\":8}\n") == 0,
              "quota unset removes the limits named");
        result_free(&r);

        reset();
        answer(200, QUOTA_LIST);
        answer(204, "");
        r = run("quota", "unset", "--user", "alice", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/quotas\nDELETE /v1/quotas/users/alice\n") == 0,
              "quota unset without a resource removes every limit (DELETE)");
        CHECK_STR(r.out, "user alice: no limit set\n", "and says so");
        result_free(&r);

        reset();
        answer(200, "{\"quotas\":[]}");
        answer(200, "{\"scope\":\"user\",\"name\":\"a b\",\"limits\":{\"disk_gib\":0}}");
        r = run("quota", "set", "--user", "a b", "--disk", "0", NULL);
        CHECK(r.rc == 0 && strstr(requests.data, "PUT /v1/quotas/users/a%20b {\"disk_gib\":0}\n"),
              "a user without limits yet gets the new ones; the name is escaped; 0 is a limit");
        result_free(&r);

        reset();
        answer(403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"your roles do not allow GET /v1/quotas\"}}");
        r = run("quota", "set", "--user", "bob", "--vcpus", "2", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR && strcmp(r.err, "wsctl: your roles do not allow GET /v1/quotas\n") == 0,
              "a member's quota set is refused with hostd's message, exit 1");
        result_free(&r);

        static const char *const bad[][9] = {
                {"quota", "set", "--vcpus", "4"},
                {"quota", "set", "--user", "a", "--group", "b", "--vcpus", "1"},
                {"quota", "set", "--user", "a"},
                {"quota", "set", "--user", "a", "--gpus", "H100"},
                {"quota", "set", "--user", "a", "--memory", "1.5X"},
                {"quota", "set", "--user", "a", "--vcpus", "-1"},
                {"quota", "frob"},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
                reset();
                r = run(bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4], bad[i][5], bad[i][6], bad[i][7], NULL);
                CHECK(r.rc == WSCTL_EXIT_USAGE && strcmp(requests.data, "") == 0 && strncmp(r.err, "wsctl: ", 7) == 0,
                      "a bad quota command line is a usage error (exit 2) and sends nothing");
                result_free(&r);
        }
}

static void test_create_wait(void)
{
        _cleanup_free_ char *keys = write_file("k.pub", "ssh-ed25519 AAAA1 a@x\n");
        double t0;
        result r;

        reset();
        answer(202, WS("pending"));
        answer(200, WS("pending"));
        answer(200, WS("provisioning"));
        answer(200, WS("provisioning"));
        answer(200, WS("running"));
        answer(200, WS_READY);
        r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "dev", NULL);
        CHECK(r.rc == 0, "create --wait ends well at ready");
        CHECK(strstr(r.out, "s pending\n") && strstr(r.out, "s provisioning\n") && strstr(r.out, "s running\n") &&
                      strstr(r.out, "s ready\n") && strstr(r.out, "s pending\n") < strstr(r.out, "s provisioning\n"),
              "every state change is printed, in order");
        CHECK(count(r.out, "pending") == 1 && count(r.out, "provisioning") == 1, "a state seen twice is printed once");
        CHECK_CONTAINS(r.out, "  0.0s pending\n", "lines carry the seconds since the command started");
        CHECK_CONTAINS(r.out, "connect: wsctl ssh dev   (or: ssh -p 2222 alice@10.77.0.5)\n",
                       "at ready create says how to connect");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        answer(200, "{\"name\":\"dev\",\"state\":\"failed\",\"reason\":\"guestfs: no space left on device\"}");
        r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_STATE, "a workspace that fails while waiting exits 4");
        CHECK_STR(r.err, "wsctl: workspace dev failed: guestfs: no space left on device\n", "the reason is printed");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        t0 = wsctl_now();
        r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "--timeout", "1s", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_TIMEOUT && wsctl_now() - t0 < 3, "--wait gives up after --timeout with exit 5");
        CHECK_CONTAINS(r.err, "timed out after 1s waiting for workspace dev to be ready (it is pending)",
                       "the timeout names the goal and the last state");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        answer(UNREACHABLE, NULL);
        r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_UNREACHABLE, "losing hostd while waiting exits 3");
        CHECK(strstr(requests.data, "GET /v1/workspaces/dev\nGET /v1/workspaces/dev\nGET /v1/workspaces/dev\n"),
              "a few unanswered polls are retried first");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        answer(200, WS_READY);
        r = run("create", "--json", "--image", "deb", "--ssh-key", keys, "--wait", "dev", NULL);
        CHECK(r.rc == 0 && r.out[0] == '{' && strstr(r.out, "\"ssh_command\""),
              "create --wait --json prints only the ready workspace's JSON on stdout");
        CHECK_CONTAINS(r.err, "s ready\n", "with --json the progress goes to stderr");
        result_free(&r);
}

#define EV(id, kind, state, extra)                                                                          \
        "id: " #id "\nevent: " kind "\ndata: {\"id\":" #id ",\"kind\":\"" kind "\",\"name\":\"dev\",\"state\":\"" state \
        "\",\"time\":\"2026-01-01T10:00:0" #id "Z\"" extra "}\n\n"

static void test_wait_follows_events(void)
{
        _cleanup_free_ char *keys = write_file("k.pub", "ssh-ed25519 AAAA1 a@x\n");
        result r;

        reset();
        answer(202, "{\"id\":\"ws-00112233445566aa\",\"name\":\"dev\",\"state\":\"pending\"}");
        answer(200, WS("pending"));
        answer(200, WS_READY);
        stream(200, "retry: 3000\n\n" EV(1, "state", "provisioning", "") ": heartbeat\n\n"
                    EV(2, "state", "running", ""), true);
        stream(200, "retry: 3000\r\n\r\n" EV(3, "agent_hello", "running", "") EV(4, "state", "ready", ""), false);
        r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "dev", NULL);
        CHECK(r.rc == 0, "create --wait follows the event stream to ready");
        CHECK(strstr(r.out, "s pending\n") && strstr(r.out, "s provisioning\n") < strstr(r.out, "s running\n") &&
                      strstr(r.out, "s running\n") < strstr(r.out, "s ready\n") && count(r.out, "running") == 1,
              "each state from the stream is printed once, in order");
        CHECK_STR(stream_requests.data,
                  "/v1/events?workspace=ws-00112233445566aa\n/v1/events?workspace=ws-00112233445566aa Last-Event-ID: 2\n",
                  "it follows the workspace by id, and reopens a dropped stream from the last event");
        CHECK(strncmp(requests.data, "POST /v1/workspaces ", 20) == 0 &&
                      strstr(requests.data, "}\nGET /v1/workspaces/dev\nGET /v1/workspaces/dev\n") &&
                      count(requests.data, "\n") == 3,
              "one GET once subscribed, one at the goal for the connect line: no polling");
        CHECK_CONTAINS(r.out, "connect: wsctl ssh dev", "at ready it says how to connect");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        answer(200, WS("pending"));
        stream(200, "retry: 3000\n\n" EV(5, "state", "provisioning", "")
                    EV(6, "state", "failed", ",\"reason\":\"creating the disk: no space\""), false);
        r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_STATE, "a failed event while waiting exits 4");
        CHECK_STR(r.err, "wsctl: workspace dev failed: creating the disk: no space\n", "with the event's reason");
        result_free(&r);

        reset();
        answer(202, WS("stopping"));
        answer(200, WS("stopped"));
        stream(200, "retry: 3000\n\n", false);
        r = run("stop", "--wait", "dev", NULL);
        CHECK(r.rc == 0 && strstr(r.out, "s stopped\n"),
              "a workspace already at the goal when the stream opens ends the wait at once");
        result_free(&r);

        reset();
        answer(202, WS("deleting"));
        answer(200, WS("deleting"));
        stream(200, "retry: 3000\n\n" EV(7, "state", "deleted", ""), false);
        r = run("delete", "--wait", "dev", NULL);
        CHECK(r.rc == 0 && strstr(r.out, "s deleted\n"), "delete --wait ends at the deleted event");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        answer(200, WS("pending"));
        answer(200, WS_READY);
        stream(UNREACHABLE, NULL, false);
        r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "dev", NULL);
        CHECK(r.rc == 0 && count(requests.data, "GET /v1/workspaces/dev\n") == 2,
              "a stream that cannot be opened: --wait polls instead");
        result_free(&r);

        reset();
        answer(202, WS("pending"));
        stream(200, "retry: 3000\n\n", false);
        answer(200, WS("pending"));
        {
                double t0 = wsctl_now();
                r = run("create", "--image", "deb", "--ssh-key", keys, "--wait", "--timeout", "1s", "dev", NULL);
                CHECK(r.rc == WSCTL_EXIT_TIMEOUT && wsctl_now() - t0 < 3,
                      "--timeout holds while following the stream too (exit 5)");
        }
        result_free(&r);
}

static int collect_message(void *opaque, const char *event, const char *id, const char *data)
{
        hd_buf_appendf(opaque, "[%s|%s|%s]", event, id, data);
        return 0;
}

static void test_sse_parse(void)
{
        static const char text[] = ": hello\rdata: a\rdata:b\r\rid: 3\nevent: x\ndata:  c\nretry: 10\n\n"
                                   "id: 4\n\ndata\nunknown: y\n\n";
        wsctl_sse p = WSCTL_SSE_INIT;
        hd_buf got = HD_BUF_INIT;

        for (size_t i = 0; i < sizeof(text) - 1; i++)
                wsctl_sse_feed(&p, text + i, 1, collect_message, &got);
        CHECK_STR(got.data, "[message||a\nb][x|3| c][message||]",
                  "SSE: CR, LF and CR LF lines, one leading space dropped, data lines joined, comments skipped");
        CHECK_STR(p.last_id, "3", "the last id is the last dispatched message's (an id alone dispatches nothing)");
        hd_buf_free(&got);
        wsctl_sse_clear(&p);
}

static void test_watch(void)
{
        result r;

        reset();
        stream(200, "retry: 3000\n\n" EV(5, "created", "pending", "") ": heartbeat\n\n"
                    "id: 6\r\nevent: state\r\ndata: {\"id\":6,\"kind\":\"state\",\"name\":\"dev\",\"state\":\"provisioning\","
                    "\"time\":\"2026-01-01T10:00:06Z\"}\r\n\r\nid: 9\ndata: {\"partial", true);
        stream(UNREACHABLE, NULL, false);
        stream(200, "retry: 3000\n\n" EV(7, "state", "failed", ",\"reason\":\"no space\"")
                    EV(8, "lifetime_warning", "failed", ",\"reason\":\"ends in 1h\""), false);
        r = run("watch", NULL);
        CHECK(r.rc == 0, "watch ends with 0 on ^C");
        CHECK_STR(r.out,
                  "2026-01-01T10:00:05Z  dev  pending  created\n"
                  "2026-01-01T10:00:06Z  dev  provisioning\n"
                  "2026-01-01T10:00:07Z  dev  failed  no space\n"
                  "2026-01-01T10:00:08Z  dev  failed  lifetime_warning: ends in 1h\n",
                  "one line per event: time, workspace, state, and the reason or what happened");
        CHECK_STR(stream_requests.data,
                  "/v1/events\n/v1/events Last-Event-ID: 6\n/v1/events Last-Event-ID: 6\n"
                  "/v1/events Last-Event-ID: 8\n",
                  "after a drop it reconnects with the id of the last whole event");
        CHECK(strstr(r.err, "wsctl: lost hostd (request to hostd failed: connection reset); reconnecting\n") &&
                      strstr(r.err, "wsctl: reconnected to hostd\n") && count(r.err, "lost hostd") == 2,
              "it says on stderr when it lost hostd and when it is back");
        result_free(&r);

        reset();
        stream(200, "retry: 3000\n\n" EV(5, "created", "pending", ""), false);
        r = run("watch", "--json", "--since", "4", "dev", NULL);
        CHECK_STR(r.out,
                  "{\"id\":5,\"kind\":\"created\",\"name\":\"dev\",\"state\":\"pending\",\"time\":\"2026-01-01T10:00:05Z\"}\n",
                  "watch --json prints each event's JSON as hostd sent it, one per line");
        CHECK(strncmp(stream_requests.data, "/v1/events?workspace=dev Last-Event-ID: 4\n", 42) == 0,
              "NAME narrows to one workspace and --since starts after that event");
        result_free(&r);

        reset();
        stream(200, "retry: 3000\n\nevent: resync\ndata: {\"reason\":\"fell behind\",\"last_id\":0}\n\n", false);
        stream(200, "retry: 3000\n\n" EV(5, "created", "pending", ""), false);
        r = run("watch", NULL);
        CHECK(count(r.out, "\n") == 1 && count(r.err, "lost hostd") == 1 &&
                      strncmp(stream_requests.data, "/v1/events\n/v1/events\n", 22) == 0,
              "a resync reconnects at once, silently");
        result_free(&r);

        reset();
        stream(403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"this token may only be used on workspace 'x'\"}}",
               false);
        r = run("watch", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR && strstr(r.err, "may only be used"), "a refused stream exits 1 with the reason");
        result_free(&r);

        reset();
        stream(UNREACHABLE, NULL, false);
        r = run("watch", NULL);
        CHECK(r.rc == WSCTL_EXIT_UNREACHABLE, "no hostd at the start exits 3");
        result_free(&r);

        reset();
        r = run("watch", "--since", "x", NULL);
        CHECK(r.rc == WSCTL_EXIT_USAGE && strstr(r.err, "--since x"), "--since wants an event id");
        result_free(&r);
}

static void test_unreachable(void)
{
        result r;

        reset();
        r = run("--socket", "/run/nowhere.sock", "list", NULL);
        CHECK(r.rc == WSCTL_EXIT_UNREACHABLE, "no answer from hostd exits 3");
        CHECK_CONTAINS(r.err, "/run/nowhere.sock does not exist", "--socket chooses the socket");
        result_free(&r);
}

static void test_actions(void)
{
        result r;

        reset();
        answer(409, "{\"error\":{\"code\":\"conflict\",\"message\":\"workspace 'dev' is ready, not stopped\"}}");
        r = run("start", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_STATE, "starting a workspace in the wrong state exits 4");
        CHECK_STR(r.err, "wsctl: workspace 'dev' is ready, not stopped\n", "with hostd's reason");
        result_free(&r);

        reset();
        answer(202, WS("stopping"));
        answer(200, WS("stopping"));
        answer(200, WS("stopped"));
        r = run("stop", "--force", "--wait", "dev", NULL);
        CHECK(r.rc == 0, "stop --wait ends at stopped");
        CHECK(strncmp(requests.data, "POST /v1/workspaces/dev/stop?force=true\n", 40) == 0, "--force asks for a power-off");
        CHECK_CONTAINS(r.out, "s stopped\n", "stop --wait shows the stopped state");
        result_free(&r);

        reset();
        answer(202, WS("stopping"));
        r = run("restart", "dev", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "POST /v1/workspaces/dev/restart\n") == 0,
              "restart posts to /restart without a body");
        CHECK_STR(r.out, "dev: stopping\n", "and prints the new state");
        result_free(&r);

        reset();
        answer(202, WS("deleting"));
        answer(200, WS("deleting"));
        answer(404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no workspace 'dev'\"}}");
        r = run("delete", "--wait", "dev", NULL);
        CHECK(r.rc == 0, "delete --wait ends when the workspace is gone");
        CHECK(strncmp(requests.data, "DELETE /v1/workspaces/dev\n", 26) == 0, "delete sends DELETE");
        CHECK_CONTAINS(r.out, "s deleted\n", "and says so");
        result_free(&r);
}

static void test_list_and_show(void)
{
        result r;

        reset();
        answer(200, "{\"workspaces\":["
                    "{\"name\":\"dev\",\"state\":\"ready\",\"image\":\"debian-12\",\"vcpus\":2,\"memory_mib\":4096,"
                    "\"disk_gib\":40,\"addresses\":[\"10.77.0.5\"],\"gpus\":{\"count\":0,\"held\":[]}},"
                    "{\"name\":\"a-much-longer-name\",\"state\":\"provisioning\",\"image\":\"deb\",\"vcpus\":16,"
                    "\"memory_mib\":1536,\"disk_gib\":1,\"addresses\":[],"
                    "\"gpus\":{\"count\":2,\"model\":\"H100\",\"held\":[\"0000:3b:00.0\",\"0000:5d:00.0\"]}},"
                    "{\"name\":\"train\",\"state\":\"stopped\",\"image\":\"deb\",\"vcpus\":8,"
                    "\"memory_mib\":8192,\"disk_gib\":100,\"gpus\":{\"count\":2,\"held\":[]}}]}");
        r = run("list", NULL);
        CHECK_STR(r.out,
                  "NAME                STATE         IMAGE      VCPUS  MEMORY  DISK  GPUS  ADDRESS    AGE\n"
                  "dev                 ready         debian-12  2      4G      40G   -     10.77.0.5  -\n"
                  "a-much-longer-name  provisioning  deb        16     1.5G    1G    2     -          -\n"
                  "train               stopped       deb        8      8G      100G  0/2   -          -\n",
                  "list prints an aligned table with human sizes and GPUs held (held/requested while fewer are held)");
        result_free(&r);

        reset();
        answer(200, "{\"name\":\"dev\",\"id\":\"ws-1\",\"state\":\"failed\",\"reason\":\"libvirt: no network\","
                    "\"vcpus\":2,\"memory_mib\":512,\"disk_gib\":20,\"addresses\":[\"10.0.0.2\",\"fd00::2\"],"
                    "\"agent\":{\"version\":\"1.0\",\"cloud_init\":\"done\",\"ssh_sessions\":2,\"users\":1,\"load1\":0.5},"
                    "\"ssh_command\":null}");
        r = run("show", "dev", NULL);
        CHECK_STR(r.out,
                  "name:       dev\n"
                  "id:         ws-1\n"
                  "state:      failed\n"
                  "reason:     libvirt: no network\n"
                  "vcpus:      2\n"
                  "memory:     512M\n"
                  "disk:       20G\n"
                  "addresses:  10.0.0.2, fd00::2\n"
                  "agent:      version 1.0, cloud-init done, SSH sessions 2, users 1, load 0.50\n",
                  "show prints aligned key: value lines with the reason and the agent, absent values left out");
        result_free(&r);

        reset();
        answer(200, "{\"name\":\"train\",\"state\":\"ready\",\"vcpus\":32,\"memory_mib\":262144,\"disk_gib\":200,"
                    "\"gpus\":{\"count\":2,\"model\":\"H100\",\"numa\":\"required\","
                    "\"held\":[\"0000:3b:00.0\",\"0000:5d:00.0\"]}}");
        r = run("show", "train", NULL);
        CHECK_CONTAINS(r.out, "\ngpus:    2 x H100 (numa required): 0000:3b:00.0, 0000:5d:00.0\n",
                       "show names the GPUs requested, the NUMA policy and the addresses held");
        result_free(&r);

        reset();
        answer(200, "{\"name\":\"train\",\"state\":\"stopped\",\"vcpus\":2,"
                    "\"gpus\":{\"count\":2,\"model\":null,\"numa\":null,\"held\":[]}}");
        r = run("show", "train", NULL);
        CHECK_CONTAINS(r.out, "\ngpus:    2 x any: none held (stopped)\n",
                       "a stopped workspace shows that it holds no GPU and why");
        result_free(&r);

        reset();
        answer(200, "{\"name\":\"dev\",\"state\":\"ready\",\"gpus\":{\"count\":0,\"held\":[]}}");
        r = run("show", "dev", NULL);
        CHECK(r.rc == 0 && !strstr(r.out, "gpus:"), "show has no gpus line for a workspace without GPUs");
        result_free(&r);
}

static void test_extend(void)
{
        result r;

        reset();
        answer(200, "{\"name\":\"dev\",\"state\":\"ready\",\"idle\":{\"timeout_s\":1800,"
                    "\"deadline\":\"2026-11-25T16:30:00Z\",\"silent\":false,"
                    "\"description\":\"idle stop at 16:30 UTC if nothing changes, extended until 16:30 UTC\"},"
                    "\"lifetime\":{\"ends_at\":\"2026-11-26T14:00:00Z\",\"action\":\"delete\"}}");
        r = run("extend", "dev", "2h", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "POST /v1/workspaces/dev/extend {\"seconds\":7200}\n") == 0,
              "extend posts the duration in seconds");
        CHECK_STR(r.out, "dev: idle stop at 16:30 UTC if nothing changes, extended until 16:30 UTC (after 1800 s idle)\n",
                  "extend prints the new deadline");
        result_free(&r);

        reset();
        r = run("extend", "dev", "soon", NULL);
        CHECK(r.rc == WSCTL_EXIT_USAGE && nanswers == 0 && requests.len == 0, "a bad duration is a usage error, nothing sent");
        result_free(&r);

        reset();
        answer(409, "{\"error\":{\"code\":\"conflict\",\"message\":\"idle stop is off\"}}");
        r = run("extend", "dev", "1h", NULL);
        CHECK(r.rc == WSCTL_EXIT_STATE, "an extend hostd refuses as conflicting exits 4");
        CHECK_STR(r.err, "wsctl: idle stop is off\n", "with hostd's reason");
        result_free(&r);

        reset();
        answer(200, "{\"name\":\"dev\",\"state\":\"ready\",\"idle\":{\"timeout_s\":120,"
                    "\"deadline\":null,\"silent\":true,\"description\":\"idle clock paused: agent silent\"},"
                    "\"lifetime\":{\"ends_at\":\"2026-11-26T14:00:00Z\",\"action\":\"stop\"}}");
        r = run("show", "dev", NULL);
        CHECK_CONTAINS(r.out, "\nidle:      idle clock paused: agent silent (after 120 s idle)\n"
                              "lifetime:  ends 2026-11-26T14:00:00Z, then stopped\n",
                       "show prints the idle line and the lifetime's end and action");
        result_free(&r);
}

static void test_create_policy(void)
{
        static const struct {
                const char *opt, *value, *sent;
        } ok[] = {
                {"--idle-timeout", "90s", "\"idle_timeout\":90"},   {"--idle-timeout", "30m", "\"idle_timeout\":1800"},
                {"--idle-timeout", "off", "\"idle_timeout\":0"},    {"--idle-timeout", "0", "\"idle_timeout\":0"},
                {"--lifetime", "2h", "\"lifetime\":7200"},         {"--lifetime", "1d", "\"lifetime\":86400"},
                {"--lifetime", "366d", "\"lifetime\":31622400"},
        };
        static const struct {
                const char *opt, *value;
        } bad[] = {
                {"--idle-timeout", "soon"}, {"--idle-timeout", "1.5h"}, {"--idle-timeout", "367d"},
                {"--lifetime", "0"},        {"--lifetime", "off"},      {"--lifetime", "-5m"},
                {"--lifetime", "2w"},
        };
        _cleanup_free_ char *keys = write_file("policy.pub", "ssh-ed25519 AAAA1 a@x\n");
        result r;

        for (size_t i = 0; i < HD_ARRAY_SIZE(ok); i++) {
                _cleanup_free_ char *what = hd_asprintf("create %s %s sends %s", ok[i].opt, ok[i].value, ok[i].sent);
                reset();
                answer(202, WS("pending"));
                r = run("create", "--image", "deb", "--ssh-key", keys, ok[i].opt, ok[i].value, "dev", NULL);
                CHECK(r.rc == 0 && strstr(requests.data, ok[i].sent), what);
                result_free(&r);
        }
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
                _cleanup_free_ char *what = hd_asprintf("create %s %s is a usage error, nothing sent", bad[i].opt,
                                                        bad[i].value);
                reset();
                r = run("create", "--image", "deb", "--ssh-key", keys, bad[i].opt, bad[i].value, "dev", NULL);
                CHECK(r.rc == WSCTL_EXIT_USAGE && requests.len == 0 && strstr(r.err, bad[i].opt) &&
                              strstr(r.err, "90s, 30m, 2h or 1d"),
                      what);
                result_free(&r);
        }
        reset();
        answer(202, WS("pending"));
        r = run("create", "--template", "small", "--ssh-key", keys, "--idle-timeout", "1h", "--lifetime", "7d", "dev",
                NULL);
        CHECK_STR(requests.data,
                  "POST /v1/workspaces {\"ssh_keys\":[\"ssh-ed25519 AAAA1 a@x\"],\"idle_timeout\":3600,"
                  "\"lifetime\":604800,\"name\":\"dev\",\"template\":\"small\"}\n",
                  "both go in one create request, in seconds, next to a template");
        result_free(&r);
        reset();
        answer(400, "{\"error\":{\"code\":\"invalid\",\"message\":\"idle_timeout must be 0 (off) or at least 60 s, not 30\"}}");
        r = run("create", "--image", "deb", "--ssh-key", keys, "--idle-timeout", "30s", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR && strstr(r.err, "at least 60 s"), "hostd's minimum is hostd's to say");
        result_free(&r);
}

static void test_startup(void)
{
        result r;

        reset();
        answer(200, "{\"name\":\"dev\",\"state\":\"ready\",\"startup\":{\"status\":\"failed\",\"exit_status\":3,"
                    "\"description\":\"failed (exit 3) after 2 s, at 14:00 UTC\"}}");
        r = run("show", "dev", NULL);
        CHECK_CONTAINS(r.out, "\nstartup:  failed (exit 3) after 2 s, at 14:00 UTC\n", "show prints the startup line");
        result_free(&r);
        reset();
        answer(200, "{\"name\":\"dev\",\"state\":\"ready\",\"startup\":null}");
        r = run("show", "dev", NULL);
        CHECK(r.rc == 0 && !strstr(r.out, "startup"), "no startup line without a startup script");
        result_free(&r);

        reset();
        answer(200, "{\"workspace\":\"dev\",\"status\":\"succeeded\",\"exit_status\":0,"
                    "\"description\":\"succeeded (exit 0) after 12 s, at 14:02 UTC\",\"output_bytes\":70000,"
                    "\"output_truncated\":true,\"output\":\"step 1\\n\\u001b[31mred\\u001b[0m\\tdone\\r\\u0085\\n\"}");
        r = run("startup-log", "dev", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/workspaces/dev/startup-log\n") == 0,
              "startup-log asks for the workspace's startup log");
        CHECK_STR(r.out, "step 1\n?[31mred?[0m\tdone??\n",
                  "it prints the output, with the guest's control characters (escape sequences) as '?'");
        CHECK_STR(r.err,
                  "dev: startup script succeeded (exit 0) after 12 s, at 14:02 UTC\n"
                  "dev: only the last 28 of the 70000 bytes it wrote are kept\n",
                  "the status and the truncation go to stderr, so the output can be piped");
        result_free(&r);

        reset();
        answer(200, "{\"workspace\":\"dev\",\"status\":\"running\",\"output\":null,"
                    "\"description\":\"running since 14:02 UTC (time limit 1 h)\"}");
        r = run("startup-log", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_STATE && strcmp(r.out, "") == 0 &&
                      strcmp(r.err, "dev: startup script running since 14:02 UTC (time limit 1 h)\n") == 0,
              "while the script runs there is no output yet: the status, and exit 4");
        result_free(&r);

        reset();
        answer(404, "{\"error\":{\"code\":\"not_found\",\"message\":\"workspace 'dev' has no startup script\"}}");
        r = run("startup-log", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR && strstr(r.err, "has no startup script"), "a workspace without a script: exit 1");
        result_free(&r);
}

static void test_ssh_command(void)
{
        _cleanup_free_ char *expected = NULL;
        struct stat st;
        result r;

        reset();
        answer(200, WS("stopped"));
        r = run("ssh", "dev", NULL);
        CHECK(r.rc == WSCTL_EXIT_STATE, "ssh to a workspace that is not ready exits 4");
        CHECK_CONTAINS(r.err, "workspace dev is stopped, not ready", "and names the state");
        result_free(&r);

        reset();
        answer(200, WS_READY);
        setenv("WSCTL_SSH_WRAPPER", "ip netns exec hostd-test", 1);
        r = run("ssh", "dev", "--print", "--", "-L", "8080:localhost:80", "echo hi", NULL);
        unsetenv("WSCTL_SSH_WRAPPER");
        expected = hd_asprintf("ip netns exec hostd-test ssh -o StrictHostKeyChecking=accept-new "
                               "-o UserKnownHostsFile=%s/home/.config/hostd/known_hosts -p 2222 alice@10.77.0.5 "
                               "-L 8080:localhost:80 'echo hi'\n",
                               tmpdir);
        CHECK(r.rc == 0, "ssh --print succeeds for a ready workspace");
        CHECK_STR(r.out, expected, "ssh --print shows the wrapper, hostd's known_hosts and the arguments after --");
        free(expected);
        expected = hd_asprintf("%s/home/.config/hostd", tmpdir);
        CHECK(stat(expected, &st) == 0 && (st.st_mode & 0777) == 0700, "the known_hosts directory is made 0700");
        result_free(&r);

        reset();
        answer(200, "{\"workspaces\":[" WS_READY "," WS("stopped") "]}");
        r = run("ssh-config", NULL);
        CHECK(r.rc == 0 && strstr(r.out, "Host dev.hostd\n") && !strstr(r.out, "ProxyCommand"),
              "ssh-config without names prints every ready workspace");
        CHECK(count(r.out, "Host ") == 1, "workspaces that are not ready are left out");
        result_free(&r);
}

static void test_images(void)
{
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        _cleanup_free_ char *expected = NULL;
        result r;

        reset();
        answer(200, "{\"images\":[{\"name\":\"debian-12\",\"format\":\"qcow2\",\"virtual_size\":2147483648,"
                    "\"file_size\":734003200,\"sha256\":\"0123456789abcdef0123\"}]}");
        r = run("images", NULL);
        CHECK_STR(r.out,
                  "NAME       FORMAT  SIZE  FILE  SHA256        IMPORTED\n"
                  "debian-12  qcow2   2G    700M  0123456789ab  -\n",
                  "images lists the catalog as a table");
        CHECK_STR(requests.data, "GET /v1/images\n", "wsctl images is images list");
        result_free(&r);

        reset();
        answer(201, "{\"name\":\"deb\",\"format\":\"raw\"}");
        r = run("images", "import", "--format", "raw", "--sha256",
                "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789", "deb", "img/deb.raw", NULL);
        expected = hd_asprintf("POST /v1/images {\"name\":\"deb\",\"path\":\"%s/img/deb.raw\",\"format\":\"raw\","
                               "\"sha256\":\"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"}\n",
                               cwd);
        CHECK(r.rc == 0, "images import succeeds on 201");
        CHECK_STR(requests.data, expected, "import sends an absolute path and a lower-case checksum");
        result_free(&r);

        reset();
        answer(204, "");
        r = run("images", "delete", "deb", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "DELETE /v1/images/deb\n") == 0, "images delete sends DELETE");
        result_free(&r);
}

/* ---- identity: tokens, users, login ------------------------------------- */

#define TOKEN_ANSWER                                                                                              \
        "{\"id\":\"tok-0123456789abcdef\",\"name\":\"ci\",\"user\":\"alice\",\"state\":\"live\","                  \
        "\"expires_at\":\"2030-01-01T00:00:00Z\",\"scopes\":{\"read_only\":true,\"workspace\":\"ws-1\"},"          \
        "\"token\":\"hdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"

static void test_tokens(void)
{
        result r;

        reset();
        answer(201, TOKEN_ANSWER);
        r = run("token", "create", "ci", "--expires", "7d", "--read-only", "--workspace", "dev", NULL);
        CHECK(r.rc == 0, "token create succeeds");
        CHECK_STR(requests.data,
                  "POST /v1/tokens {\"name\":\"ci\",\"expires_in\":604800,\"read_only\":true,\"workspace\":\"dev\"}\n",
                  "it sends the name, the lifetime in seconds and the scopes");
        CHECK_STR(r.out, "hdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                  "the token alone goes to stdout (TOKEN=$(wsctl token create …))");
        CHECK_CONTAINS(r.err, "shown only this once", "stderr says it will not be shown again");
        result_free(&r);

        reset();
        answer(201, TOKEN_ANSWER);
        r = run("token", "create", "--user", "bob", "laptop", NULL);
        CHECK_STR(requests.data, "POST /v1/tokens {\"name\":\"laptop\",\"expires_in\":2592000,\"user\":\"bob\"}\n",
                  "without --expires a token lives 30 days; --user makes one for another user");
        result_free(&r);

        reset();
        answer(201, TOKEN_ANSWER);
        r = run("token", "create", "ci", "--expires", "soon", NULL);
        CHECK(r.rc == WSCTL_EXIT_USAGE && *requests.data == '\0', "a bad --expires is a usage error, nothing sent");
        CHECK_CONTAINS(r.err, "'soon'", "naming the value");
        result_free(&r);

        reset();
        answer(200, "{\"tokens\":[" TOKEN_ANSWER "]}");
        r = run("token", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/tokens\n") == 0, "token (list) asks for the caller's tokens");
        CHECK_CONTAINS(r.out, "ID                    NAME  USER   STATE  EXPIRES", "a table with a header");
        CHECK_CONTAINS(r.out, "tok-0123456789abcdef  ci    alice  live   in ", "a row per token, expiry ahead");
        CHECK_CONTAINS(r.out, "read-only, workspace ws-1", "and its scopes");
        result_free(&r);

        reset();
        answer(200, "{\"tokens\":[]}");
        r = run("token", "list", "--user", "b@x", NULL);
        CHECK_STR(requests.data, "GET /v1/tokens?user=b%40x\n", "--user asks for another user's, escaped");
        CHECK_CONTAINS(r.out, "no tokens", "an empty list says so");
        result_free(&r);
        reset();
        answer(200, "{\"tokens\":[]}");
        r = run("token", "list", "--all", NULL);
        CHECK_STR(requests.data, "GET /v1/tokens?all=true\n", "--all asks for everybody's");
        result_free(&r);

        reset();
        answer(204, "");
        r = run("token", "revoke", "tok-0123456789abcdef", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "DELETE /v1/tokens/tok-0123456789abcdef\n") == 0,
              "token revoke ID sends DELETE");
        CHECK_STR(r.out, "revoked token tok-0123456789abcdef\n", "and says so");
        result_free(&r);
        reset();
        r = run("token", "revoke", NULL);
        CHECK(r.rc == WSCTL_EXIT_USAGE && strstr(r.err, "missing the token's ID"), "revoke without an ID is a usage error");
        result_free(&r);
}

#define USER_ANSWER                                                                                          \
        "{\"name\":\"alice\",\"email\":\"a@example.org\",\"roles\":[\"member\",\"auditor\"],\"groups\":[\"ml\"]," \
        "\"disabled\":false,\"created_at\":\"2026-01-01T00:00:00Z\"}"

static void test_users(void)
{
        result r;

        reset();
        answer(201, USER_ANSWER);
        r = run("user", "create", "alice", "--roles", "member,auditor", "--groups", "ml", "--email", "a@example.org",
                NULL);
        CHECK(r.rc == 0, "user create succeeds");
        CHECK_STR(requests.data,
                  "POST /v1/users {\"roles\":[\"member\",\"auditor\"],\"groups\":[\"ml\"],\"email\":\"a@example.org\","
                  "\"name\":\"alice\"}\n",
                  "it sends the comma-separated roles and groups as lists");
        CHECK_CONTAINS(r.out, "roles:    member, auditor", "and shows the user made");
        result_free(&r);

        reset();
        answer(200, USER_ANSWER);
        r = run("user", "update", "alice", "--groups", "", NULL);
        CHECK_STR(requests.data, "PATCH /v1/users/alice {\"groups\":[]}\n", "--groups \"\" clears the groups");
        result_free(&r);
        reset();
        r = run("user", "update", "alice", NULL);
        CHECK(r.rc == WSCTL_EXIT_USAGE && *requests.data == '\0', "update with nothing to change is a usage error");
        result_free(&r);

        reset();
        answer(200, USER_ANSWER);
        r = run("user", "disable", "alice", NULL);
        CHECK_STR(requests.data, "PATCH /v1/users/alice {\"disabled\":true}\n", "disable sends disabled: true");
        CHECK_STR(r.out, "disabled user alice: its tokens stop working now\n", "and says what it means");
        result_free(&r);
        reset();
        answer(200, USER_ANSWER);
        r = run("user", "enable", "alice", NULL);
        CHECK_STR(requests.data, "PATCH /v1/users/alice {\"disabled\":false}\n", "enable sends disabled: false");
        result_free(&r);

        reset();
        answer(200, "{\"users\":[" USER_ANSWER "]}");
        r = run("user", NULL);
        CHECK(r.rc == 0 && strcmp(requests.data, "GET /v1/users\n") == 0, "user (list) lists users");
        CHECK_CONTAINS(r.out, "alice  member, auditor  ml      a@example.org  enabled", "one row per user");
        result_free(&r);

        reset();
        answer(403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"only an admin may grant role admin\"}}");
        r = run("user", "create", "boss", "--roles", "admin", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR && strcmp(r.err, "wsctl: only an admin may grant role admin\n") == 0,
              "a refusal exits 1 with hostd's message");
        result_free(&r);
}

static void test_login(void)
{
        _cleanup_free_ char *conf = hd_path_join(tmpdir, "home/.config/hostd/wsctl.conf");
        _cleanup_free_ char *tokfile = write_file("token", "  hdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \n");
        _cleanup_free_ char *text = NULL;
        struct stat st;
        result r;

        reset();
        r = run("login", "--server", "http://hostd.example.org", "--token-file", tokfile, NULL);
        CHECK(r.rc == WSCTL_EXIT_USAGE && strstr(r.err, "https://") && *requests.data == '\0',
              "login refuses a server that is not https://, sending nothing");
        result_free(&r);

        reset();
        answer(401, "{\"error\":{\"code\":\"unauthenticated\",\"message\":\"unknown token\"}}");
        r = run("login", "--server", "https://hostd.example.org:8443", "--token-file", tokfile, NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR && strstr(r.err, "refused the token: unknown token") && access(conf, F_OK) < 0,
              "a token the server refuses is not kept");
        CHECK_STR(last_server, "https://hostd.example.org:8443", "login asked the server, not the socket");
        result_free(&r);

        reset();
        answer(200, "{\"workspaces\":[]}");
        answer(200, "{\"tokens\":[{\"user\":\"alice\"}]}");
        r = run("login", "--server", "https://hostd.example.org:8443", "--ca", tokfile, "--token-file", tokfile, NULL);
        CHECK(r.rc == 0 && strstr(r.out, "logged in to https://hostd.example.org:8443 as alice"),
              "login checks the token, then says as whom it is logged in");
        CHECK(stat(conf, &st) == 0 && (st.st_mode & 0777) == 0600, "wsctl.conf is written mode 0600");
        hd_read_file(conf, 4096, &text, NULL, NULL);
        CHECK(text && strstr(text, "server = https://hostd.example.org:8443\n") && strstr(text, "ca = /tmp/") &&
                      strstr(text, "token = hdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"),
              "it holds the server, the CA's absolute path and the trimmed token");
        result_free(&r);

        reset();
        answer(200, "{\"workspaces\":[]}");
        r = run("list", NULL);
        CHECK(r.rc == 0 && strcmp(last_server, "https://hostd.example.org:8443") == 0,
              "once logged in, commands go to the server");
        result_free(&r);
        reset();
        answer(200, "{\"workspaces\":[]}");
        r = run("--socket", "/run/x.sock", "list", NULL);
        CHECK(r.rc == 0 && last_server[0] == '\0', "--socket still chooses the local socket");
        result_free(&r);

        chmod(conf, 0640);
        reset();
        answer(200, "{\"workspaces\":[]}");
        r = run("list", NULL);
        CHECK(r.rc == WSCTL_EXIT_ERROR && strstr(r.err, "may be read by others (mode 0640)") && *requests.data == '\0',
              "a wsctl.conf others may read is refused, and nothing is sent");
        result_free(&r);

        reset();
        r = run("logout", NULL);
        CHECK(r.rc == 0 && strstr(r.out, "logged out") && access(conf, F_OK) < 0, "logout removes wsctl.conf");
        result_free(&r);
        reset();
        answer(200, "{\"workspaces\":[]}");
        r = run("list", NULL);
        CHECK(r.rc == 0 && last_server[0] == '\0', "logged out, commands use the socket again");
        result_free(&r);
}

static void test_config_parse(void)
{
        static const struct {
                const char *text, *error;
        } cases[] = {
                {"server = https://h\ntoken = t\ncolour = red\n", "unknown key 'colour'"},
                {"server = https://h\nserver = https://i\ntoken = t\n", "set twice"},
                {"server = https://h\n", "needs both server and token"},
                {"server = http://h\ntoken = t\n", "https://"},
                {"server = https://h\ntoken = t\nca = relative.pem\n", "absolute"},
                {"server = https://h\ntoken = a b\n", "not usable"},
                {"server https://h\n", "expected 'key = value'"},
        };
        bool all = true;

        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *text = hd_strdup(cases[i].text);
                wsctl_config c = {0};
                hd_error err = {0};

                if (wsctl_config_parse("wsctl.conf", text, &c, &err) == 0 || !strstr(err.message, cases[i].error)) {
                        printf("# case %zu: %s\n", i, err.message);
                        all = false;
                }
                wsctl_config_clear(&c);
        }
        CHECK(all, "malformed wsctl.conf files are refused with a message saying what is wrong");
        _cleanup_free_ char *text = hd_strdup("# comment\n\nserver = https://h:8443/ \n  token = hdt_x\n");
        wsctl_config c = {0};
        CHECK(wsctl_config_parse("f", text, &c, NULL) == 0 && strcmp(c.server, "https://h:8443/") == 0 &&
                      strcmp(c.token, "hdt_x") == 0 && !c.ca,
              "a good one parses, comments and blanks skipped, the CA optional");
        wsctl_config_clear(&c);
}

/* An export page (GET /v1/audit) of n sealed records, and the same as file lines. */
static void audit_log(int n, char **page, char **file_text)
{
        hd_buf lines = HD_BUF_INIT;
        json_t *records = json_array();
        char hash[API_AUDIT_HASH_LEN + 1], prev[API_AUDIT_HASH_LEN + 1] = API_AUDIT_GENESIS;

        for (int i = 1; i <= n; i++) {
                json_t *rec = json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:s},s:i}", "time", "2024-05-01T10:00:00.000Z",
                                        "action", "POST /v1/workspaces/{ref}/stop", "actor", "user", "alice",
                                        "resource", "type", "workspace", "id", "dev", "outcome", 202);
                char *body = api_audit_seal(rec, i, prev, hash);
                char *line = api_audit_line(body, hash);

                hd_buf_append(&lines, line);
                json_object_set_new(rec, "hash", json_string(hash));
                json_array_append_new(records, rec);
                memcpy(prev, hash, sizeof(prev));
                free(body);
                free(line);
        }
        json_t *o = json_pack("{s:o,s:n,s:n,s:{s:i,s:s}}", "records", records, "next", "anchor", "head", "seq", n,
                              "hash", hash);

        *page = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        *file_text = hd_buf_steal(&lines);
}

static void test_audit(void)
{
        _cleanup_free_ char *page = NULL, *text = NULL, *path = NULL, *cut = NULL, *cutpath = NULL;
        result r;

        audit_log(3, &page, &text);
        reset();
        answer(200, page);
        r = run("audit", "list", "--actor", "alice", "--since", "2024-05-01", "--action", "POST /v1/*", NULL);
        CHECK_STR(requests.data, "GET /v1/audit?actor=alice&action=POST%20%2Fv1%2F%2A&since=2024-05-01&limit=50&order=desc\n",
                  "audit list sends its filters, escaped, and asks for the newest records");
        CHECK(r.rc == 0 && strstr(r.out, "SEQ  TIME") && strstr(r.out, "alice  POST /v1/workspaces/{ref}/stop  workspace/dev  202"),
              "audit list prints a table of the records");
        CHECK(strstr(r.out, "\n3 ") && strstr(r.out, "\n1 ") && strstr(r.out, "\n3 ") < strstr(r.out, "\n1 "),
              "a newest-first page is printed in the other order, oldest first");
        result_free(&r);

        reset();
        answer(200, page);
        r = run("audit", "verify", NULL);
        CHECK(r.rc == 0 && strstr(r.out, "OK, 3 records (1 to 3)") &&
                      strcmp(requests.data, "GET /v1/audit?limit=1000&after=0\n") == 0,
              "audit verify reads the database through the API and says OK");
        result_free(&r);

        reset();
        {
                char *edited = hd_strdup(page);

                strstr(edited, "\"outcome\":202")[12] = '0';
                answer(200, edited);
                r = run("audit", "verify", "--db", NULL);
                CHECK(r.rc == 1 && strstr(r.err, "record 1 is bad: hash mismatch"),
                      "an edited record in the database is named, exit 1");
                result_free(&r);
                free(edited);
        }

        path = write_file("audit.jsonl", text);
        r = run("audit", "verify", "--file", path, NULL);
        CHECK(r.rc == 0 && strstr(r.out, "OK, 3 records"), "audit verify --file checks the JSONL file offline");
        result_free(&r);
        cut = hd_strdup(text);
        memmove(strchr(cut, '\n') + 1, strchr(strchr(cut, '\n') + 1, '\n') + 1,
                strlen(strchr(strchr(cut, '\n') + 1, '\n') + 1) + 1);
        cutpath = write_file("cut.jsonl", cut);
        r = run("audit", "verify", "--file", cutpath, NULL);
        CHECK(r.rc == 1 && strstr(r.err, "record 3 is bad: missing predecessor"),
              "a line deleted from the file is named by the record after it");
        result_free(&r);
        r = run("audit", "verify", "--anchor", "1:abc", NULL);
        CHECK(r.rc == 2, "a malformed --anchor is a usage error");
        result_free(&r);
}

int main(void)
{
        _cleanup_free_ char *home = NULL;

        if (!mkdtemp(tmpdir))
                return 1;
        home = hd_path_join(tmpdir, "home");
        setenv("HOME", home, 1);
        unsetenv("XDG_CONFIG_HOME");
        unsetenv("WSCTL_IMAGE");
        unsetenv("WSCTL_SSH_WRAPPER");
        unsetenv("HOSTD_SOCKET");

        test_table();
        test_sizes_and_ages();
        test_quoting_and_paths();
        test_replies();
        test_keys();
        test_ssh_argv();
        test_ssh_config();
        test_usage_errors();
        test_help();
        test_create();
        test_create_wait();
        test_wait_follows_events();
        test_sse_parse();
        test_watch();
        test_unreachable();
        test_actions();
        test_list_and_show();
        test_extend();
        test_create_policy();
        test_startup();
        test_ssh_command();
        test_images();
        test_templates();
        test_gpus();
        test_tokens();
        test_users();
        test_login();
        test_config_parse();
        test_audit();
        test_quota();

        hd_buf_free(&requests);
        hd_buf_free(&stream_requests);
        {
                const char *rm[] = {"rm", "-rf", tmpdir, NULL};
                hd_run(rm, NULL, NULL);
        }
        return tl_done();
}

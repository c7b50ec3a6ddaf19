/* test-cloudinit.c — NoCloud rendering, validation and the injection plan.
 *
 * tests/fixtures/cloudinit/render/<case>/request.json is rendered and compared
 * with meta-data, user-data and network-config next to it; every rendered
 * user-data must pass `cloud-init schema --config-file`, and every rendered
 * file must read back through YAML (PyYAML, as cloud-init does) as exactly
 * the JSON data it is. tests/fixtures/cloudinit/errors/<case>/request.json
 * must be refused with the code and message in error.txt.
 * HOSTD_REGENERATE=1 rewrites the expected files instead of comparing. */
#include "cloudinit/cloudinit.h"
#include "cloudinit/internal.h"
#include "common/common.h"
#include "tests/fixture.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static bool regenerate;
static char tmpdir[] = "/tmp/hostd-test-cloudinit-XXXXXX";

/* Python run by cloud-init's own interpreter: does each file's YAML reading
 * equal its JSON reading (after the "#cloud-config" line)? */
static const char yaml_roundtrip_py[] =
        "import json, sys, yaml\n"
        "for p in sys.argv[1:]:\n"
        "    text = open(p, encoding='utf-8').read()\n"
        "    body = text.split('\\n', 1)[1] if text.startswith('#cloud-config\\n') else text\n"
        "    if yaml.safe_load(text) != json.loads(body):\n"
        "        sys.exit('YAML and JSON readings differ: ' + p)\n";

/* The file's content, or NULL when it does not exist. */
static char *read_opt(const char *path)
{
        char *data = NULL;

        if (hd_read_file(path, 1 << 20, &data, NULL, NULL) < 0)
                return NULL;
        return data;
}

/* Compare actual (NULL: the file must not exist) with the expected file, or
 * rewrite it under HOSTD_REGENERATE=1. */
static void expect_file(const char *dir, const char *name, const char *actual, const char *what)
{
        _cleanup_free_ char *path = hd_path_join(dir, name);
        _cleanup_free_ char *expected = NULL;

        if (regenerate) {
                if (actual)
                        hd_write_file_atomic(path, actual, strlen(actual), 0644, NULL);
                else
                        unlink(path);
                return;
        }
        expected = read_opt(path);
        if (!actual || !expected)
                CHECK(!actual && !expected, what);
        else
                CHECK_STR(actual, expected, what);
}

/* A request.json parsed into a ci_request that points into *root. */
typedef struct parsed {
        json_t *root;
        const char **keys;
        ci_request req;
} parsed;

static void parsed_free(parsed *p)
{
        json_decref(p->root);
        free(p->keys);
}

static bool parse_request(const char *path, parsed *p)
{
        json_error_t jerr;
        json_t *keys, *k;
        size_t i;

        memset(p, 0, sizeof(*p));
        p->root = json_load_file(path, 0, &jerr);
        if (!p->root) {
                printf("# %s: %s\n", path, jerr.text);
                return false;
        }
        keys = json_object_get(p->root, "ssh_keys");
        p->keys = hd_malloc0((json_array_size(keys) + 1) * sizeof(char *));
        json_array_foreach (keys, i, k)
                p->keys[i] = json_string_value(k);
        p->req = (ci_request){
                .instance_id = json_string_value(json_object_get(p->root, "instance_id")),
                .hostname = json_string_value(json_object_get(p->root, "hostname")),
                .username = json_string_value(json_object_get(p->root, "username")),
                .ssh_keys = p->keys,
                .n_ssh_keys = json_array_size(keys),
                .extra_cloud_config = json_object_get(p->root, "extra_cloud_config"),
                .network_config = json_object_get(p->root, "network_config"),
        };
        return true;
}

static char *write_tmp(const char *name, const char *data)
{
        char *path = hd_path_join(tmpdir, name);

        hd_write_file_atomic(path, data, strlen(data), 0644, NULL);
        return path;
}

static bool str_is(const json_t *v, const char *s)
{
        return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* What a user relies on in every user-data, whatever the template says. */
static void check_security(const char *c, const ci_request *req, const char *user_data)
{
        json_t *doc = json_loads(user_data + strlen("#cloud-config\n"), 0, NULL);
        json_t *users = json_object_get(doc, "users");
        json_t *first = json_array_get(users, 0);
        json_t *keys = json_object_get(first, "ssh_authorized_keys");
        bool keys_ok = json_array_size(keys) == req->n_ssh_keys;
        _cleanup_free_ char *what = NULL;

        for (size_t i = 0; keys_ok && i < req->n_ssh_keys; i++)
                keys_ok = strcmp(json_string_value(json_array_get(keys, i)), req->ssh_keys[i]) == 0;
        what = hd_asprintf("%s: password SSH login off, root login off", c);
        CHECK(json_is_false(json_object_get(doc, "ssh_pwauth")) &&
                      json_is_true(json_object_get(doc, "disable_root")),
              what);
        free(what);
        what = hd_asprintf("%s: the workspace user comes first, locked password, sudo, bash", c);
        CHECK(str_is(json_object_get(first, "name"), req->username) &&
                      json_is_true(json_object_get(first, "lock_passwd")) &&
                      str_is(json_object_get(first, "sudo"), "ALL=(ALL) NOPASSWD:ALL") &&
                      str_is(json_object_get(first, "shell"), "/bin/bash"),
              what);
        free(what);
        what = hd_asprintf("%s: the user's authorized keys are exactly the given keys", c);
        CHECK(keys_ok, what);
        json_decref(doc);
}

static void check_with_cloud_init(const char *c, const ci_seed *seed)
{
        _cleanup_free_ char *ud = write_tmp("user-data", seed->user_data);
        _cleanup_free_ char *md = write_tmp("meta-data", seed->meta_data);
        _cleanup_free_ char *nc =
                write_tmp("network-config", seed->network_config ? seed->network_config : "{}");
        const char *schema[] = {"cloud-init", "schema", "--config-file", ud, NULL};
        const char *roundtrip[] = {"/usr/bin/python3", "-c", yaml_roundtrip_py, ud, md, nc, NULL};
        _cleanup_free_ char *what = NULL;
        hd_error err = {0};

        what = hd_asprintf("%s: cloud-init schema accepts the user-data", c);
        if (!CHECK(hd_run(schema, NULL, &err) == 0, what))
                printf("#   %s\n", err.message);
        free(what);
        what = hd_asprintf("%s: YAML reads every file as exactly its JSON data", c);
        if (!CHECK(hd_run(roundtrip, NULL, &err) == 0, what))
                printf("#   %s\n", err.message);
}

/* One fixture case: its name, its folder and its parsed request.json. */
typedef void (*case_fn)(const char *name, const char *dir, const ci_request *req);

/* Run fn on every case folder under fixtures/sub, in name order; returns
 * how many cases ran. */
static int for_each_case(const char *fixtures, const char *sub, case_fn fn)
{
        _cleanup_free_ char *dir = hd_path_join(fixtures, sub);
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort), cases = 0;

        if (n < 0)
                printf("# cannot list %s: %s\n", dir, strerror(errno));
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *cdir = hd_path_join(dir, list[i]->d_name);
                _cleanup_free_ char *req_path = hd_path_join(cdir, "request.json");
                parsed p;

                if (list[i]->d_name[0] != '.' && parse_request(req_path, &p)) {
                        fn(list[i]->d_name, cdir, &p.req);
                        parsed_free(&p);
                        cases++;
                }
                free(list[i]);
        }
        free(list);
        return cases;
}

static void render_case(const char *c, const char *cdir, const ci_request *req)
{
        _cleanup_free_ char *what = hd_asprintf("render/%s renders", c);
        ci_seed seed = {0};
        hd_error err = {0};

        if (!CHECK(ci_render(req, &seed, &err) == 0, what)) {
                printf("#   %s\n", err.message);
                return;
        }
        expect_file(cdir, "meta-data", seed.meta_data, "meta-data as expected");
        expect_file(cdir, "user-data", seed.user_data, "user-data as expected");
        expect_file(cdir, "network-config", seed.network_config,
                    "network-config as expected (absent when not given)");
        CHECK(strncmp(seed.user_data, "#cloud-config\n{", 15) == 0,
              "user-data is the cloud-config header and one JSON object");
        check_security(c, req, seed.user_data);
        check_with_cloud_init(c, &seed);
        ci_seed_free(&seed);
}

static void error_case(const char *c, const char *cdir, const ci_request *req)
{
        _cleanup_free_ char *what = NULL, *got = NULL;
        ci_seed seed = {0};
        hd_error err = {0};

        what = hd_asprintf("errors/%s is refused and nothing is rendered", c);
        CHECK(ci_render(req, &seed, &err) == -1 && !seed.user_data && !seed.meta_data, what);
        got = hd_asprintf("%s: %s\n", hd_errcode_name(err.code), err.message);
        free(what);
        what = hd_asprintf("errors/%s: the message says what is wrong", c);
        expect_file(cdir, "error.txt", got, what);
        ci_seed_free(&seed);
}

static void test_validators(const char *fixtures)
{
        _cleanup_free_ char *path = hd_path_join(fixtures, "keys/valid.txt");
        _cleanup_free_ char *keys = read_opt(path);
        char long_label[64], longest[256];
        int n = 0, bad = 0;
        hd_error err = {0};

        for (char *line = keys, *nl; line && *line; line = nl + 1) {
                nl = strchr(line, '\n');
                if (!nl)
                        break;
                *nl = '\0';
                n++;
                if (ci_ssh_key_valid(line, &err) < 0) {
                        bad++;
                        printf("#   %s\n", err.message);
                }
        }
        CHECK(n >= 9 && bad == 0,
              "keys of every supported type, with and without comment, are valid");
        CHECK(ci_ssh_key_valid(NULL, &err) == -1 && err.code == HD_E_INVALID,
              "a NULL key is refused");

        memset(long_label, 'a', 63);
        long_label[63] = '\0';
        for (int i = 0; i < 4; i++) {
                memset(longest + i * 64, 'b', 63);
                longest[i * 64 + 63] = '.';
        }
        longest[253] = '\0'; /* labels of 63, 63, 63 and 61 characters */
        CHECK(ci_hostname_valid("a", NULL) == 0 && ci_hostname_valid("dev-box", NULL) == 0 &&
                      ci_hostname_valid("ws1.lab.example", NULL) == 0 &&
                      ci_hostname_valid("0x", NULL) == 0,
              "ordinary host names are valid");
        CHECK(ci_hostname_valid(long_label, NULL) == 0, "a 63-character label is valid");
        CHECK(ci_hostname_valid(longest, NULL) == 0, "a 253-character host name is valid");
        CHECK(ci_hostname_valid("", &err) == -1 && ci_hostname_valid("a.", &err) == -1,
              "empty names and trailing dots are refused");
        CHECK(ci_username_valid("_svc", NULL) == 0 && ci_username_valid("alice-2", NULL) == 0 &&
                      ci_username_valid("abcdefghijklmnopqrstuvwxyz012345", NULL) == 0,
              "ordinary user names up to 32 characters are valid");
        CHECK(ci_username_valid("daemon", &err) == -1 &&
                      ci_username_valid("www-data", &err) == -1 &&
                      ci_username_valid("_apt", &err) == -1,
              "system user names are refused");
}

/* The plan of files ci_inject writes: paths, modes, order, no secret in messages. */
static void test_plan(const char *fixtures)
{
        _cleanup_free_ char *agent = write_tmp("agent", "\x7f" "ELF fake agent");
        _cleanup_free_ char *disk = write_tmp("disk.qcow2", "");
        _cleanup_free_ char *unit_dir = hd_path_join(fixtures, "inject");
        const char *token = "tok_0123456789abcdef-XYZ";
        ci_seed seed = {.meta_data = (char *)"{}\n", .user_data = (char *)"#cloud-config\n{}\n"};
        ci_inject_req req = {.disk_path = disk, .disk_format = "qcow2", .seed = &seed,
                             .agent_binary_path = agent, .agent_token = token,
                             .workspace_id = "ws-0001"};
        const ci_entry *tok = NULL, *tokdir = NULL, *link = NULL, *up = NULL, *unit = NULL;
        bool has_netcfg = false;
        hd_error err = {0};
        ci_plan plan;

        CHECK(ci_plan_build(&req, &plan, &err) == 0, "an injection plan is built");
        for (size_t i = 0; i < plan.n; i++) {
                const ci_entry *e = &plan.entries[i];
                if (strcmp(e->path, CI_AGENT_TOKEN_PATH) == 0)
                        tok = e;
                else if (strcmp(e->path, "/etc/hostd-agent") == 0)
                        tokdir = tok ? NULL : e; /* must come before the token */
                else if (e->kind == CI_ENTRY_SYMLINK)
                        link = e;
                else if (e->kind == CI_ENTRY_UPLOAD)
                        up = e;
                else if (strcmp(e->path, CI_AGENT_UNIT_PATH) == 0)
                        unit = e;
                has_netcfg |= strstr(e->path, "network-config") != NULL;
        }
        CHECK(tok && tok->mode == 0400 && tok->len == strlen(token) + 1 &&
                      strncmp(tok->data, token, strlen(token)) == 0,
              "the token is written as one line, mode 0400");
        CHECK(tokdir && tokdir->kind == CI_ENTRY_DIR && tokdir->mode == 0700,
              "the token's directory is made 0700 before the token is written");
        CHECK(up && up->mode == 0755 && strcmp(up->path, CI_AGENT_PATH) == 0 &&
                      strcmp(up->host_path, agent) == 0,
              "the agent binary is copied to its path, mode 0755");
        CHECK(link &&
                      strcmp(link->path, "/etc/systemd/system/multi-user.target.wants/"
                                         "hostd-agent.service") == 0 &&
                      strcmp(link->target, CI_AGENT_UNIT_PATH) == 0,
              "the agent unit is enabled for multi-user.target");
        CHECK(!has_netcfg, "no network-config is written when the seed has none");
        CHECK(unit && !strstr(unit->data, "cloud-init") && !strstr(unit->data, "network-online"),
              "the agent does not wait for cloud-init or the network to start");
        expect_file(unit_dir, "hostd-agent.service", ci_agent_unit, "the agent unit as expected");
        for (size_t i = 0; i < plan.n; i++)
                CHECK(!strstr(plan.entries[i].path, "startup"), "without a startup script none is written");
        ci_plan_free(&plan);

        req.startup_script = "#!/bin/sh\necho hi\n";
        req.startup_timeout_s = 900;
        CHECK(ci_plan_build(&req, &plan, &err) == 0, "a plan with a startup script is built");
        {
                const ci_entry *script = NULL, *limit = NULL;
                bool after_dir = false;

                for (size_t i = 0; i < plan.n; i++) {
                        const ci_entry *e = &plan.entries[i];
                        after_dir |= strcmp(e->path, "/etc/hostd-agent") == 0;
                        if (strcmp(e->path, CI_AGENT_STARTUP_SCRIPT_PATH) == 0 && after_dir)
                                script = e;
                        if (strcmp(e->path, CI_AGENT_STARTUP_TIMEOUT_PATH) == 0)
                                limit = e;
                }
                CHECK(script && script->kind == CI_ENTRY_FILE && script->mode == 0700 &&
                              script->len == strlen(req.startup_script) &&
                              memcmp(script->data, req.startup_script, script->len) == 0,
                      "the startup script is written exactly, mode 0700, inside the root-only folder");
                CHECK(limit && limit->mode == 0644 && limit->len == 4 && memcmp(limit->data, "900\n", 4) == 0,
                      "its time limit is written as one line of seconds");
        }
        ci_plan_free(&plan);
        req.startup_timeout_s = 0;
        CHECK(ci_plan_build(&req, &plan, &err) == 0, "a plan with the default time limit is built");
        for (size_t i = 0; i < plan.n; i++)
                CHECK(strcmp(plan.entries[i].path, CI_AGENT_STARTUP_TIMEOUT_PATH) != 0,
                      "with no time limit given none is written (the agent's default applies)");
        ci_plan_free(&plan);
        req.startup_script = "echo no interpreter\n";
        CHECK(ci_plan_build(&req, &plan, &err) == -1 && err.code == HD_E_INVALID && strstr(err.message, "#!"),
              "a startup script without an interpreter line is refused");
        ci_plan_free(&plan);
        req.startup_script = NULL;

        req.agent_token = "short";
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_INVALID, "a short token is refused");
        req.agent_token = "tok_0123456789abcdef\nX";
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_INVALID &&
                      !strstr(err.message, "0123456789"),
              "a bad token is refused without quoting the secret");
        req.agent_token = token;
        req.agent_binary_path = "/nonexistent/hostd-agent";
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "a missing agent binary is found out before any launch");
        req.agent_binary_path = agent;
        req.disk_path = "/nonexistent/disk.qcow2";
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "a missing disk is found out before any launch");
        req.disk_path = disk;
        req.disk_format = "vmdk";
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_INVALID,
              "only qcow2 and raw disks are accepted (no format probing)");
        req.disk_format = "qcow2";
        req.workspace_id = "../x";
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_INVALID,
              "a bad workspace id is refused");
}

int main(void)
{
        _cleanup_free_ char *fixtures = tl_fixtures_dir("cloudinit");
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};

        regenerate = getenv("HOSTD_REGENERATE") && strcmp(getenv("HOSTD_REGENERATE"), "1") == 0;
        if (!CHECK(fixtures != NULL, "tests/fixtures/cloudinit is found") ||
            !CHECK(mkdtemp(tmpdir) != NULL, "a temp dir is made"))
                return tl_done();
        test_validators(fixtures);
        CHECK(for_each_case(fixtures, "render", render_case) >= 6, "the render fixtures are found");
        CHECK(for_each_case(fixtures, "errors", error_case) >= 30, "the error fixtures are found");
        test_plan(fixtures);
        hd_run(rm, NULL, NULL);
        return tl_done();
}

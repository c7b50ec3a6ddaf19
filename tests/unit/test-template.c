/* test-template.c — workspace templates: schema, versions, overrides, diff,
 * and loading a directory.
 *
 * Fixture pairs under tests/fixtures/templates/: each valid/<case>.json must
 * parse and give <case>.canonical.json and <case>.sha256 (its version id);
 * each invalid/<case>.json must be refused with exactly the errors listed
 * in <case>.errors, one per line.  HOSTD_REGENERATE=1 rewrites the expected
 * files instead of comparing. */
#include "common/common.h"
#include "orchestrator/template.h"
#include "tests/fixture.h"

#include <dirent.h>
#include <sys/stat.h>

static char *fixtures;

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *slurp(const char *path, size_t *len)
{
        char *data = NULL;
        hd_error err = {0};

        if (hd_read_file(path, 4 << 20, &data, len, &err) < 0)
                printf("#   %s\n", err.message);
        return data;
}

/* Parse a text; on failure the errors go to a TAP comment. */
static orch_template *parse_text(const char *text, size_t len)
{
        orch_template_errors errs = {0};
        orch_template *t = NULL;

        if (orch_template_parse(text, len, &t, &errs) < 0) {
                _cleanup_free_ char *s = orch_template_errors_format(&errs);
                printf("#   errors:\n%s", s);
        }
        orch_template_errors_clear(&errs);
        return t;
}

/* valid/<stem>.json parsed (NULL when it does not parse). */
static orch_template *parse_fixture(const char *stem)
{
        _cleanup_free_ char *path = hd_asprintf("%s/valid/%s.json", fixtures, stem);
        size_t len = 0;
        _cleanup_free_ char *text = slurp(path, &len);

        return text ? parse_text(text, len) : NULL;
}

static char *hash_of(const orch_template *t)
{
        char h[65];

        orch_template_hash(t, h);
        return hd_strdup(h);
}

static void check_valid(const char *dir, const char *file)
{
        _cleanup_free_ char *stem = hd_asprintf("%.*s", (int)strlen(file) - 5, file);
        orch_template *t = parse_fixture(stem), *back = NULL;
        _cleanup_free_ char *what = hd_asprintf("valid/%s parses without errors", file);

        if (!CHECK(t != NULL, what))
                return;
        _cleanup_free_ char *canon = orch_template_canonical_json(t), *hash = hash_of(t);
        _cleanup_free_ char *canon_nl = hd_asprintf("%s\n", canon), *hash_nl = hd_asprintf("%s\n", hash);
        _cleanup_free_ char *canon_path = hd_asprintf("%s/%s.canonical.json", dir, stem);
        _cleanup_free_ char *hash_path = hd_asprintf("%s/%s.sha256", dir, stem);
        _cleanup_free_ char *w1 = hd_asprintf("valid/%s gives the expected canonical JSON", stem);
        _cleanup_free_ char *w2 = hd_asprintf("valid/%s has the expected version hash", stem);
        _cleanup_free_ char *w3 = hd_asprintf("valid/%s: the canonical JSON parses back to itself", stem);

        tl_fixture_compare(canon_path, canon_nl, w1);
        tl_fixture_compare(hash_path, hash_nl, w2);
        back = parse_text(canon, strlen(canon));
        if (CHECK(back != NULL, w3)) {
                _cleanup_free_ char *again = orch_template_canonical_json(back);
                CHECK_STR(again, canon, w3);
        }
        orch_template_free(back);
        orch_template_free(t);
}

static void check_invalid(const char *dir, const char *file)
{
        _cleanup_free_ char *path = hd_path_join(dir, file);
        _cleanup_free_ char *stem = hd_asprintf("%.*s", (int)strlen(file) - 5, file);
        _cleanup_free_ char *expected = hd_asprintf("%s/%s.errors", dir, stem);
        _cleanup_free_ char *w1 = hd_asprintf("invalid/%s is refused and nothing is returned", file);
        _cleanup_free_ char *w2 = hd_asprintf("invalid/%s names every expected error", file);
        orch_template_errors errs = {0};
        orch_template *t = (orch_template *)1;
        size_t len = 0;
        _cleanup_free_ char *text = slurp(path, &len);

        if (!CHECK(text != NULL, w1))
                return;
        CHECK(orch_template_parse(text, len, &t, &errs) < 0 && t == NULL && errs.n > 0, w1);
        _cleanup_free_ char *got = orch_template_errors_format(&errs);
        tl_fixture_compare(expected, got, w2);
        orch_template_errors_clear(&errs);
}

static void for_each_json(const char *sub, void (*fn)(const char *dir, const char *file))
{
        _cleanup_free_ char *dir = hd_path_join(fixtures, sub);
        struct dirent **list;
        int n = scandir(dir, &list, NULL, alphasort);
        int done = 0;

        for (int i = 0; i < n; i++) {
                const char *f = list[i]->d_name;
                if (ends_with(f, ".json") && !ends_with(f, ".canonical.json")) {
                        fn(dir, f);
                        done++;
                }
                free(list[i]);
        }
        if (n >= 0)
                free(list);
        CHECK(done >= 5, "the fixture folder holds the template cases");
}

static bool has_error(const orch_template_errors *e, const char *path, const char *reason_part)
{
        for (size_t i = 0; i < e->n; i++)
                if (strcmp(e->v[i].path, path) == 0 && strstr(e->v[i].reason, reason_part))
                        return true;
        return false;
}

/* Every problem of a template with many is reported, not just the first. */
static void test_several_errors(void)
{
        _cleanup_free_ char *path = hd_asprintf("%s/invalid/several-errors.json", fixtures);
        size_t len = 0;
        _cleanup_free_ char *text = slurp(path, &len);
        orch_template_errors errs = {0};
        orch_template *t = NULL;

        if (!CHECK(text != NULL, "several-errors fixture is readable"))
                return;
        CHECK(orch_template_parse(text, len, &t, &errs) < 0, "a template with many errors is refused");
        CHECK(has_error(&errs, "name", "lowercase"), "a bad name is named");
        CHECK(has_error(&errs, "vcpus", "between 1 and 255"), "vcpus out of range is named");
        CHECK(has_error(&errs, "memory", "not a size"), "a malformed size is named");
        CHECK(has_error(&errs, "gpus.count", "must be between 0 and 16"), "a GPU count out of range is named");
        CHECK(has_error(&errs, "gpus.numa", "\"required\" or \"preferred\""), "a bad NUMA policy is named");
        CHECK(has_error(&errs, "network", "not both"), "network and bridge together are named");
        CHECK(has_error(&errs, "idle_timeout", "not a duration"), "a malformed duration is named");
        CHECK(has_error(&errs, "groups[1]", "not a group name"), "a bad group is named with its index");
        CHECK(has_error(&errs, "colour", "unknown field"), "an unknown field is named");
        CHECK(has_error(&errs, "parameters.disk", "min 500G is above max 50G"), "min above max is named");
        CHECK(errs.n == 10, "exactly the ten problems are listed");
        orch_template_errors_clear(&errs);
}

static char *template_with_script(size_t script_len)
{
        _cleanup_free_ char *script = hd_malloc0(script_len + 1);

        memset(script, 'x', script_len);
        memcpy(script, "#!", 2);
        return hd_asprintf("{\"name\":\"big\",\"image\":\"debian12\",\"vcpus\":1,\"memory\":\"1G\","
                           "\"disk\":\"10G\",\"startup_script\":\"%s\"}", script);
}

static void test_limits(void)
{
        _cleanup_free_ char *ok = template_with_script(ORCH_TEMPLATE_SCRIPT_MAX);
        _cleanup_free_ char *huge = template_with_script(ORCH_TEMPLATE_SCRIPT_MAX + 1);
        _cleanup_free_ char *many = NULL, *s = NULL;
        orch_template_errors errs = {0};
        orch_template *t = NULL;
        hd_buf b = HD_BUF_INIT;

        t = parse_text(ok, strlen(ok));
        CHECK(t != NULL, "a startup script of exactly 64 KiB is accepted");
        orch_template_free(t);
        t = NULL;
        CHECK(orch_template_parse(huge, strlen(huge), &t, &errs) < 0 && t == NULL,
              "a startup script over 64 KiB is refused");
        s = orch_template_errors_format(&errs);
        CHECK_STR(s, "startup_script: is 65537 bytes, the limit is 65536\n",
                  "the script's size and the limit are named");
        free(steal_ptr(s));

        /* 200 unknown fields: the list is capped and says how many were left out */
        hd_buf_append(&b, "{");
        for (int i = 0; i < 200; i++)
                hd_buf_appendf(&b, "%s\"x%d\":1", i ? "," : "", i);
        hd_buf_append(&b, "}");
        many = hd_buf_steal(&b);
        CHECK(orch_template_parse(many, strlen(many), &t, &errs) < 0, "a template of unknown fields is refused");
        CHECK(errs.n == ORCH_TEMPLATE_ERRORS_MAX + 1, "the error list is capped");
        CHECK_STR(errs.v[errs.n - 1].reason, "155 more errors not listed",
                  "the last entry counts the errors left out (200 unknown + 5 required)");

        _cleanup_free_ char *too_big = hd_malloc0(ORCH_TEMPLATE_FILE_MAX + 1);
        memset(too_big, ' ', ORCH_TEMPLATE_FILE_MAX + 1);
        too_big[0] = '{';
        too_big[ORCH_TEMPLATE_FILE_MAX] = '}';
        CHECK(orch_template_parse(too_big, ORCH_TEMPLATE_FILE_MAX + 1, &t, &errs) < 0 && errs.n == 1 &&
                      strcmp(errs.v[0].path, "template") == 0,
              "a template file over 1 MiB is refused before parsing");
        orch_template_errors_clear(&errs);
}

/* The valid fixtures the tests below compare, parsed once. */
static orch_template *full, *reordered, *changed, *minimal, *spelled;

static void test_versions(void)
{
        _cleanup_free_ char *path = hd_asprintf("%s/valid/full.json", fixtures);
        size_t len = 0;
        _cleanup_free_ char *text = slurp(path, &len);
        orch_template *one = NULL;
        char *p;

        if (!text)
                return;
        _cleanup_free_ char *h_full = hash_of(full), *h_re = hash_of(reordered);
        _cleanup_free_ char *h_changed = hash_of(changed), *h_min = hash_of(minimal);
        _cleanup_free_ char *h_spelled = hash_of(spelled);

        CHECK(strlen(h_full) == 64 && strspn(h_full, "0123456789abcdef") == 64,
              "a version id is 64 lower-case hex digits");
        CHECK_STR(h_re, h_full, "reordered keys, other whitespace and other spellings of the same "
                                "sizes and durations give the same version");
        CHECK_STR(h_spelled, h_min, "defaults written out give the same version as defaults left out");
        CHECK(strcmp(h_changed, h_full) != 0, "a changed template gives a new version");

        /* one value changed, nothing else: a new version */
        p = strstr(text, "\"vcpus\": 8");
        if (CHECK(p != NULL, "full.json has vcpus 8")) {
                p[9] = '9';
                one = parse_text(text, len);
                _cleanup_free_ char *h_one = one ? hash_of(one) : hd_strdup("");
                CHECK(one && strcmp(h_one, h_full) != 0, "changing vcpus alone gives a new version");
        }
        orch_template_free(one);
}

static void test_apply(void)
{
        orch_template_resolved r = {0};
        hd_error err = {0};

        CHECK(orch_template_apply(full, NULL, &r, &err) == 0 && r.vcpus == 8 && r.memory == 64ull << 30 &&
                      r.disk == 200ull << 30 && r.gpus == 2 && r.lifetime == 7 * 86400 &&
                      r.lifetime_action == ORCH_TEMPLATE_LIFETIME_STOP,
              "without overrides a workspace gets the template's values");

        orch_template_overrides o = {.has_disk = true, .disk = 300ull << 30, .has_gpus = true, .gpus = 0,
                                     .has_lifetime = true, .lifetime = 3 * 86400};
        CHECK(orch_template_apply(full, &o, &r, &err) == 0 && r.disk == 300ull << 30 && r.gpus == 0 &&
                      r.lifetime == 3 * 86400 && r.vcpus == 8,
              "overrides within the template's ranges are applied, the rest stays");

        r = (orch_template_resolved){.vcpus = 77};
        o = (orch_template_overrides){.has_disk = true, .disk = 600ull << 30};
        CHECK(orch_template_apply(full, &o, &r, &err) < 0 && err.code == HD_E_INVALID && r.vcpus == 77,
              "a disk above the range is refused and nothing is filled in");
        CHECK_STR(err.message, "template ml-h100: disk 600G is above the template's maximum 500G",
                  "the refusal names the parameter, the value and the range's end");

        o = (orch_template_overrides){.has_vcpus = true, .vcpus = 2, .has_gpus = true, .gpus = 3,
                                      .has_memory = true, .memory = (48ull << 30) + (512u << 10)};
        CHECK(orch_template_apply(full, &o, &r, &err) < 0, "several bad overrides are refused");
        CHECK_STR(err.message,
                  "template ml-h100: vcpus 2 is below the template's minimum 4; memory 50332160K is "
                  "not a whole number of MiB; gpus 3 is above the template's maximum 2",
                  "every refused override is named in the one message");

        o = (orch_template_overrides){.has_vcpus = true, .vcpus = 4, .has_lifetime = true, .lifetime = 3600};
        CHECK(orch_template_apply(minimal, &o, &r, &err) < 0, "an override the template does not allow is refused");
        CHECK_STR(err.message,
                  "template small: vcpus cannot be changed: the template does not allow it; lifetime "
                  "cannot be changed: the template does not allow it",
                  "the refusal says the parameter is not overridable");

        o = (orch_template_overrides){.has_lifetime = true, .lifetime = 15 * 86400};
        CHECK(orch_template_apply(full, &o, &r, &err) < 0 &&
                      strstr(err.message, "lifetime 15d is above the template's maximum 14d"),
              "a lifetime above the template's maximum is refused");

        const char *ml[] = {"ml"}, *other[] = {"finance", "hr"};
        CHECK(orch_template_usable_by(full, ml, 1), "a member of a listed group may use the template");
        CHECK(!orch_template_usable_by(full, other, 2), "a user in no listed group may not");
        CHECK(orch_template_usable_by(minimal, NULL, 0), "a template naming no groups is for everyone");
}

static void test_diff(void)
{
        _cleanup_free_ char *d = orch_template_diff(full, changed);
        CHECK_STR(d,
                  "memory: 64G -> 96G\n"
                  "gpus.numa: required -> preferred\n"
                  "idle_timeout: 2h -> off\n"
                  "lifetime_action: stop -> delete\n"
                  "groups: ml, platform -> ml\n"
                  "parameters.disk: 50G..500G -> 50G..1T\n"
                  "parameters.gpus: 0..2 -> (not overridable)\n"
                  "cloud_config.locale: (none) -> \"en_US.UTF-8\"\n"
                  "cloud_config.packages: [\"htop\",\"tmux\"] -> [\"htop\",\"tmux\",\"git\"]\n"
                  "cloud_config.timezone: \"UTC\" -> (none)\n"
                  "startup_script: 3 lines, 74 bytes -> 3 lines, 86 bytes (first difference at line 3)\n",
                  "the diff lists each changed field with both values, one per line");
        _cleanup_free_ char *same = orch_template_diff(full, reordered);
        CHECK_STR(same, "", "two spellings of one template have no diff");
        _cleanup_free_ char *d2 = orch_template_diff(minimal, full);
        CHECK_CONTAINS(d2, "name: small -> ml-h100\n", "a renamed template shows the name");
        CHECK_CONTAINS(d2, "network: (none) -> default\n", "an added field shows (none) before");
        CHECK_CONTAINS(d2, "startup_script: (none) -> 3 lines, 74 bytes\n", "an added script is summarized");
        orch_template *st = parse_fixture("startup");
        _cleanup_free_ char *d3 = st ? orch_template_diff(full, st) : NULL;
        CHECK_CONTAINS(d3, "startup_timeout: (default, 1h) -> 2h\n", "a startup script's time limit shows in the diff");
        orch_template_free(st);
}

/* The complete example in docs/templates.md is valid and is valid/full.json. */
static void test_doc_example(void)
{
        _cleanup_free_ char *path = getenv("HOSTD_SRCDIR") ? tl_src_path("docs/templates.md")
                                                           : tl_find_up("docs/templates.md");
        size_t len = 0;
        _cleanup_free_ char *doc = path ? slurp(path, &len) : NULL;
        char *start = doc ? strstr(doc, "```json\n") : NULL, *end;
        orch_template *t;

        if (!CHECK(start && (end = strstr(start + 8, "```")), "docs/templates.md has a JSON example"))
                return;
        t = parse_text(start + 8, (size_t)(end - start - 8));
        _cleanup_free_ char *h = t ? hash_of(t) : hd_strdup(""), *h_full = hash_of(full);
        CHECK_STR(h, h_full, "the documented example parses and is the full fixture");
        orch_template_free(t);
}

static void put_file(const char *dir, const char *name, const char *text)
{
        _cleanup_free_ char *path = hd_path_join(dir, name);
        hd_error err = {0};

        if (hd_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
                printf("#   %s\n", err.message);
}

static void test_load_dir(void)
{
        char tmp[] = "/tmp/hostd-test-template-XXXXXX";
        orch_template_set set = {0};
        orch_template_errors errs = {0};
        const char *small = "{\"name\":\"small\",\"image\":\"debian12\",\"vcpus\":1,\"memory\":\"1G\",\"disk\":\"10G\"}";
        const char *big = "{\"name\":\"a-big\",\"image\":\"debian12\",\"vcpus\":8,\"memory\":\"8G\",\"disk\":\"100G\"}";

        if (!CHECK(mkdtemp(tmp) != NULL, "a temporary folder can be made"))
                return;
        CHECK(orch_template_load_dir(tmp, &set, &errs) == 0 && set.n == 0, "an empty folder gives no templates");
        orch_template_set_clear(&set);
        put_file(tmp, "small.json", small);
        put_file(tmp, "a-big.json", big);
        put_file(tmp, "README", "not a template");
        put_file(tmp, ".editor-swap.json", "{");
        {
                _cleanup_free_ char *sub = hd_path_join(tmp, "old.json");
                mkdir(sub, 0755);
        }
        CHECK(orch_template_load_dir(tmp, &set, &errs) == 0 && set.n == 2 && errs.n == 0,
              "every *.json file is loaded; other names, hidden files and folders are skipped");
        CHECK(set.n == 2 && strcmp(set.v[0]->name, "a-big") == 0 && strcmp(set.v[1]->name, "small") == 0,
              "the set is sorted by name");
        CHECK(orch_template_set_find(&set, "small") && !orch_template_set_find(&set, "nope"),
              "a template is found by name");
        orch_template_set_clear(&set);

        put_file(tmp, "wrong.json", small);
        put_file(tmp, "broken.json", "{\"name\":\"broken\",\"image\":\"debian12\",\"vcpus\":0,\"memory\":\"1G\",\"disk\":\"10G\",\"x\":1}");
        set.n = 99;
        CHECK(orch_template_load_dir(tmp, &set, &errs) < 0 && set.n == 0 && set.v == NULL,
              "one bad file refuses the whole folder: nothing is returned");
        _cleanup_free_ char *s = orch_template_errors_format(&errs);
        CHECK_STR(s,
                  "broken.json: vcpus: must be between 1 and 255\n"
                  "broken.json: x: unknown field (allowed: name, description, image, vcpus, memory, disk, "
                  "gpus, network, bridge, cloud_config, startup_script, startup_timeout, idle_timeout, max_lifetime, "
                  "lifetime_action, groups, parameters)\n"
                  "wrong.json: name: is \"small\" but the file is wrong.json: a template's file must be "
                  "named <name>.json\n",
                  "every error of every file is listed with the file's name");
        _cleanup_free_ char *missing = hd_path_join(tmp, "missing");
        CHECK(orch_template_load_dir(missing, &set, &errs) < 0 && errs.n == 1 &&
                      strstr(errs.v[0].reason, "No such file"),
              "a missing folder is an error that says so");
        orch_template_errors_clear(&errs);

        const char *rm[] = {"rm", "-rf", tmp, NULL};
        tl_run_ok(rm);
}

int main(void)
{
        fixtures = tl_fixtures_dir("templates");
        if (!CHECK(fixtures != NULL, "tests/fixtures/templates is found"))
                return tl_done();
        for_each_json("valid", check_valid);
        for_each_json("invalid", check_invalid);
        test_several_errors();
        test_limits();
        full = parse_fixture("full");
        reordered = parse_fixture("reordered");
        changed = parse_fixture("changed");
        minimal = parse_fixture("minimal");
        spelled = parse_fixture("defaults-spelled");
        if (CHECK(full && reordered && changed && minimal && spelled, "the compared fixtures parse")) {
                test_versions();
                test_apply();
                test_diff();
                test_doc_example();
        }
        test_load_dir();
        orch_template_free(full);
        orch_template_free(reordered);
        orch_template_free(changed);
        orch_template_free(minimal);
        orch_template_free(spelled);
        free(fixtures);
        return tl_done();
}

/* test-config.c — hostd.conf parsing: every fixture tests/fixtures/config/X.conf
 * has X.out holding either the effective configuration (what `hostd -n`
 * prints) or the one error line a user sees; plus size/duration parsing. */
#include "hostd/config.h"
#include "tests/fixture.h"

#include <dirent.h>

static void check_fixture(const char *dir, const char *name)
{
        _cleanup_free_ char *expected = NULL, *actual = NULL, *what = NULL;
        hostd_config cfg;
        hd_error err = {0};
        size_t n = strlen(name) - strlen(".conf");

        hostd_config_defaults(&cfg);
        if (hostd_config_load(&cfg, name, &err) < 0)
                actual = hd_asprintf("error: %s\n", err.message);
        else
                actual = hostd_config_dump(&cfg);
        hostd_config_free(&cfg);
        expected = hd_asprintf("%s/%.*s.out", dir, (int)n, name);
        what = hd_asprintf("config %s gives the expected result", name);
        tl_fixture_compare(expected, actual, what);
}

static void test_fixtures(void)
{
        _cleanup_free_ char *rel = tl_src_path("tests/fixtures/config");
        _cleanup_free_ char *dir = realpath(rel, NULL);
        struct dirent **list;
        int n;

        /* Error messages name the file as given: run from inside the folder. */
        if (!CHECK(dir && chdir(dir) == 0, "fixture folder exists"))
                return;
        n = scandir(".", &list, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *f = list[i]->d_name;
                size_t len = strlen(f);
                if (len > 5 && strcmp(f + len - 5, ".conf") == 0)
                        check_fixture(dir, f);
                free(list[i]);
        }
        free(list);
}

static void test_units(void)
{
        uint64_t v = 0;
        char buf[32];

        CHECK(hd_parse_size("20G", &v) == 0 && v == 20ull << 30, "20G is 20 GiB");
        CHECK(hd_parse_size("512MiB", &v) == 0 && v == 512ull << 20, "512MiB is accepted");
        CHECK(hd_parse_size("1024", &v) == 0 && v == 1024, "a bare number is bytes");
        CHECK(hd_parse_size("-1G", &v) < 0, "negative sizes are refused");
        CHECK(hd_parse_size("99999999999T", &v) < 0, "overflowing sizes are refused");
        CHECK(hd_parse_size("1.5G", &v) < 0, "fractions are refused, not truncated");
        CHECK(hd_parse_duration("10m", &v) == 0 && v == 600, "10m is ten minutes");
        CHECK(hd_parse_duration("2h", &v) == 0 && v == 7200, "2h is two hours");
        CHECK(hd_parse_duration("10M", &v) < 0, "upper-case duration units are refused");
        CHECK(hd_parse_duration("5ms", &v) < 0, "unknown duration units are refused");
        hd_format_size(3ull << 30, buf, sizeof(buf));
        CHECK_STR(buf, "3G", "sizes print in their largest exact unit");
}

int main(void)
{
        test_units();
        test_fixtures();
        return tl_done();
}

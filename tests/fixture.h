/* fixture.h — compare an output with an expected file, or rewrite it.
 *
 * With HOSTD_REGENERATE=1 in the environment the expected file is written
 * from the actual output (review the diff, then commit); otherwise the two
 * must be byte-identical. Paths are relative to the source tree, found via
 * HOSTD_SRCDIR (set by tests/run) or the current directory. */
#pragma once

#include "common/common.h"
#include "tests/testlib.h"

#include <unistd.h>

static inline char *tl_src_path(const char *rel)
{
        const char *top = getenv("HOSTD_SRCDIR");
        return top ? hd_path_join(top, rel) : hd_strdup(rel);
}

/* Walk up from this test executable (build/tests/x) until rel exists. */
static inline char *tl_find_up(const char *rel)
{
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        if (n <= 0)
                return NULL;
        exe[n] = '\0';
        for (char *slash; (slash = strrchr(exe, '/')) && slash != exe;) {
                _cleanup_free_ char *path = NULL;

                *slash = '\0';
                path = hd_path_join(exe, rel);
                if (access(path, F_OK) == 0)
                        return steal_ptr(path);
        }
        return NULL;
}

/* tests/fixtures/<module>: from $HOSTD_FIXTURES, else $HOSTD_SRCDIR, else
 * found by walking up from the test executable. */
static inline char *tl_fixtures_dir(const char *module)
{
        const char *env = getenv("HOSTD_FIXTURES");
        _cleanup_free_ char *rel = hd_path_join("tests/fixtures", module);

        if (env)
                return hd_path_join(env, module);
        if (getenv("HOSTD_SRCDIR"))
                return tl_src_path(rel);
        return tl_find_up(rel);
}

/* Run a helper program; on failure say why on a TAP comment line. */
static inline bool tl_run_ok(const char *const argv[])
{
        hd_error err = {0};

        if (hd_run(argv, NULL, &err) == 0)
                return true;
        printf("#   %s\n", err.message);
        return false;
}

static inline void tl_fixture_compare(const char *expected_path, const char *actual, const char *what)
{
        _cleanup_free_ char *expected = NULL;
        hd_error err = {0};

        if (getenv("HOSTD_REGENERATE")) {
                bool ok = hd_write_file_atomic(expected_path, actual, strlen(actual), 0644, &err) == 0;
                tl_report(ok, __FILE__, __LINE__, what, ok ? NULL : err.message);
                return;
        }
        if (hd_read_file(expected_path, 16 << 20, &expected, NULL, &err) < 0) {
                tl_report(false, __FILE__, __LINE__, what, err.message);
                return;
        }
        if (!tl_report(strcmp(expected, actual) == 0, __FILE__, __LINE__, what,
                       "output differs from the expected file (HOSTD_REGENERATE=1 rewrites it)"))
                printf("#   expected file: %s\n#   got:\n%s\n", expected_path, actual);
}

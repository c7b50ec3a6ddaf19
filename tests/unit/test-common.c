/* test-common.c — error codes, buffers, child programs and atomic file writes. */
#include "common/common.h"
#include "tests/testlib.h"

#include <sys/stat.h>

static void test_errors(void)
{
        hd_error err = {0};

        CHECK(hd_error_set(&err, HD_E_INVALID, "bad name %s", "x/y") == -1, "error setters return -1");
        CHECK_STR(err.message, "bad name x/y", "error message is formatted");
        CHECK_STR(hd_errcode_name(err.code), "invalid", "error code has a stable name");
        hd_error_prefix(&err, "image %s", "deb");
        CHECK_STR(err.message, "image deb: bad name x/y", "context prefixes the message");
        CHECK(hd_error_set(NULL, HD_E_IO, "ignored") == -1, "a NULL error is allowed");
}

static void test_buf(void)
{
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;

        for (int i = 0; i < 1000; i++)
                hd_buf_appendf(&b, "%d,", i);
        CHECK(b.len == strlen(b.data), "buffer length matches its string");
        CHECK(strncmp(b.data, "0,1,2,", 6) == 0, "appends keep order");
}

static void test_run(void)
{
        const char *echo[] = {"printf", "%s", "hello", NULL};
        const char *fail[] = {"sh", "-c", "echo boom >&2; exit 3", NULL};
        const char *missing[] = {"/nonexistent/program", NULL};
        _cleanup_free_ char *out = NULL;
        hd_error err = {0};

        CHECK(hd_run(echo, &out, &err) == 0, "a child's stdout is captured");
        CHECK_STR(out, "hello", "captured output is exact");
        CHECK(hd_run(fail, NULL, &err) == -1, "a failing child is an error");
        CHECK_CONTAINS(err.message, "status 3: boom", "the error names exit status and stderr");
        CHECK(hd_run(missing, NULL, &err) == -1, "a missing program is an error");
}

static void test_files(void)
{
        char dir[] = "/tmp/hostd-test-common-XXXXXX";
        _cleanup_free_ char *path = NULL, *sub = NULL, *data = NULL;
        hd_error err = {0};
        struct stat st;
        size_t len = 0;

        CHECK(mkdtemp(dir) != NULL, "temp dir");
        path = hd_path_join(dir, "/state.json");
        CHECK(hd_write_file_atomic(path, "{}", 2, 0600, &err) == 0, "atomic write succeeds");
        CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "atomic write sets the mode");
        CHECK(hd_read_file(path, 100, &data, &len, &err) == 0 && len == 2, "whole file read back");
        CHECK(hd_read_file(path, 1, &data, &len, &err) == -1 && err.code == HD_E_TOO_LARGE,
              "a read over the limit is refused");
        sub = hd_path_join(dir, "a/b/c");
        CHECK(hd_mkdir_p(sub, 0700, &err) == 0 && stat(sub, &st) == 0, "mkdir -p creates parents");
        {
                const char *rm[] = {"rm", "-rf", dir, NULL};
                hd_run(rm, NULL, NULL);
        }
}

int main(void)
{
        test_errors();
        test_buf();
        test_run();
        test_files();
        return tl_done();
}

/* testlib.h — a tiny TAP producer for hostd's C tests.
 *
 * Each test program prints "ok N - what" or "not ok N - what" per check and a
 * plan line at the end; tests/run adds them up into "N passed, N failed".
 * Checks report the failing expression and location on a "# " line. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_count, tl_failed;

static inline bool tl_report(bool ok, const char *file, int line, const char *what,
                             const char *detail)
{
        tl_count++;
        printf("%sok %d - %s\n", ok ? "" : "not ", tl_count, what);
        if (!ok) {
                tl_failed++;
                printf("#   at %s:%d: %s\n", file, line, detail ? detail : "");
        }
        fflush(stdout);
        return ok;
}

/* CHECK(cond, "what the user relies on") */
#define CHECK(cond, what) tl_report((cond), __FILE__, __LINE__, (what), #cond)

/* CHECK_STR(actual, expected, what): compares strings, prints both on failure. */
#define CHECK_STR(actual, expected, what)                                                 \
        do {                                                                              \
                const char *a_ = (actual), *e_ = (expected);                              \
                bool ok_ = a_ && e_ && strcmp(a_, e_) == 0;                               \
                if (!tl_report(ok_, __FILE__, __LINE__, (what), "strings differ"))        \
                        printf("#   got:      %s\n#   expected: %s\n", a_ ? a_ : "(null)", \
                               e_ ? e_ : "(null)");                                       \
        } while (0)

/* CHECK_CONTAINS(haystack, needle, what) */
#define CHECK_CONTAINS(hay, needle, what)                                                \
        do {                                                                             \
                const char *h_ = (hay), *n_ = (needle);                                  \
                bool ok_ = h_ && n_ && strstr(h_, n_) != NULL;                           \
                if (!tl_report(ok_, __FILE__, __LINE__, (what), "substring not found"))  \
                        printf("#   in:   %s\n#   want: %s\n", h_ ? h_ : "(null)", n_);  \
        } while (0)

static inline int tl_done(void)
{
        printf("1..%d\n", tl_count);
        return tl_failed ? 1 : 0;
}

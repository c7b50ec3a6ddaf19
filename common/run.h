/* run.h — run a child program from an argv array (never through a shell). */
#pragma once

#include "common/error.h"

/* Run argv[0] (looked up in PATH) with argv, stdin from /dev/null.
 * On success returns 0 and, when out is not NULL, gives the child's stdout
 * as a NUL-terminated string in *out (caller frees).  A non-zero exit or a
 * signal is an HD_E_IO error whose message holds the program name, its exit
 * status and the last line(s) of its stderr. Output is capped at 16 MiB. */
int hd_run(const char *const argv[], char **out, hd_error *err);

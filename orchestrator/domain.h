/* domain.h — internal to orchestrator/domain*.c: the checks and formats that
 * writing the domain XML and reading its metadata back share. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <hostd:created> is RFC 3339 in UTC, to the second. */
#define ORCH_TIME_FMT "%Y-%m-%dT%H:%M:%SZ"

/* 0 when s is printable UTF-8 text (no control character, only characters
 * XML 1.0 allows) of at most max bytes; NULL or "" only when !required.
 * Else HD_E_INVALID with a message naming field. */
int orch_text_check(const char *field, const char *s, size_t max, bool required,
                    hd_error *err);

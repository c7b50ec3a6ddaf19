/* kv.h — `key = value` text, read line by line in place: hostd.conf and
 * wsctl.conf share this shape (blank lines and `#` comments skipped). */
#pragma once

#include "common/error.h"

/* The next `key = value` line of the text at *cursor (modified in place):
 * 1 with *key and *val trimmed and *line its line number, 0 at the end, or
 * -1 with HD_E_INVALID "LINE: expected 'key = value', got '...'". */
int hd_kv_next(char **cursor, unsigned *line, char **key, char **val, hd_error *err);

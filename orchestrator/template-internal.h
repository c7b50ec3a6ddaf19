/* template-internal.h — what the template files of orchestrator/ share:
 * error collection, value formatting, the jansson cleanup, and the
 * canonical JSON tree.  Not for other modules (they use template.h). */
#pragma once

#include "orchestrator/template.h"

#include <jansson.h> /* also json_decrefp, for _cleanup_(json_decrefp) */

#include "common/cleanup.h"

HD_DEFINE_CLEANUP(orch_template *, orch_template_free)

/* How a number is written in a template, a message or a diff. */
typedef enum orch_tpl_unit {
        ORCH_TPL_COUNT,    /* "8" */
        ORCH_TPL_SIZE,     /* bytes, written "64G" */
        ORCH_TPL_DURATION, /* seconds, written "2h" */
} orch_tpl_unit;

#define ORCH_TPL_VALUE_MAX 32 /* room for any formatted value */

/* v as a person writes it, into buf (ORCH_TPL_VALUE_MAX bytes). */
void orch_tpl_format(orch_tpl_unit u, uint64_t v, char *buf);

/* Append an error (file may be NULL); past ORCH_TEMPLATE_ERRORS_MAX the
 * error is only counted, in one last "template: N more errors" entry. */
void orch_tpl_error_add(orch_template_errors *e, const char *file, const char *path,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "parent.key" ("key" when parent is ""), caller frees; the key is cut at
 * 64 bytes and its odd bytes shown as '?', since a user typed it. */
char *orch_tpl_path(const char *parent, const char *key);

/* Is there an error at path or below it ("disk" matches "disk" and
 * "disk.x" and "disk[0]", not "diskette")? */
bool orch_tpl_has_error(const orch_template_errors *e, const char *path);

/* The canonical JSON tree of a template (canonical text is its compact,
 * key-sorted dump). */
json_t *orch_tpl_canonical_tree(const orch_template *t);

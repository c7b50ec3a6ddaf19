/* store-sqlite.h — what the sqlite backend's files share (internal). */
#pragma once

#include <stddef.h>

/* The schema's migration steps, in order (store-sqlite-schema.c). */
extern const char *const orch_sqlite_migrations[];
extern const size_t orch_sqlite_migration_count;

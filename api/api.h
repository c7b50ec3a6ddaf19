/* api.h — hostd's HTTP API (libmicrohttpd + jansson) on a unix socket.
 *
 * The server translates requests into orchestrator calls and nothing else:
 * routes are a table (api/handlers.c), errors map to statuses through one
 * table (api/errors.c). */
#pragma once

#include "common/error.h"

#include <stddef.h>
#include <sys/types.h>

typedef struct orch_service orch_service;
typedef struct api_server api_server;

typedef struct api_config {
        const char *socket_path;   /* created (old socket replaced), then chmod/chown */
        const char *socket_group;  /* NULL or "": leave the group as is */
        mode_t socket_mode;
        size_t max_body;           /* bytes; larger bodies get 413 */
        unsigned connection_timeout; /* seconds of inactivity before a connection is closed */
        unsigned max_connections;
        unsigned threads;          /* size of the connection thread pool */
        const char *version;       /* reported by /v1/health */
        /* The audit log (docs/audit.md); audit_db NULL: none (tests only). */
        const char *audit_file;    /* the JSONL file for the SIEM */
        const char *audit_db;      /* hostd's database, as the store opened it */
        unsigned audit_retention_days; /* 0: keep every record in the database */
        void (*log_error)(const char *line); /* what the audit log must say to the daemon's log */
} api_config;

api_server *api_server_start(const api_config *cfg, orch_service *svc, hd_error *err);
void api_server_stop(api_server *srv);

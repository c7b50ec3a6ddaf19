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

/* OIDC bearer tokens from the site's identity provider (docs/oidc.md); each
 * field is the hostd.conf key oidc_<field>. issuer NULL: OIDC is off. */
typedef struct api_oidc_config {
        const char *issuer;        /* iss, compared exactly */
        const char *audience;      /* must be in aud */
        const char *jwks_file;     /* the keys from a file ... */
        const char *jwks_url;      /* ... or fetched over https:// */
        const char *ca_file;       /* CA bundle for jwks_url; NULL: the system's */
        unsigned clock_skew;       /* seconds allowed on exp, nbf, iat */
        unsigned jwks_refresh_min; /* seconds between two reloads on an unknown kid */
        unsigned jwks_max_age;     /* seconds before cached keys are reloaded anyway */
        const char *user_claim;    /* the user name; NULL: preferred_username */
        const char *groups_claim;  /* the groups; NULL: groups */
        const char *role_map;      /* "group=role, group=role"; NULL: everyone member */
        const char *email_domains; /* "a.example, b.example"; NULL: any email or none */
} api_oidc_config;

typedef struct api_config {
        const char *socket_path;   /* created (old socket replaced), then chmod/chown */
        const char *socket_group;  /* NULL or "": leave the group as is */
        mode_t socket_mode;
        size_t max_body;           /* bytes; larger bodies get 413 */
        unsigned connection_timeout; /* seconds of inactivity before a connection is closed */
        unsigned max_connections;
        unsigned threads;          /* size of the connection thread pool */
        const char *version;       /* reported by /v1/health */
        api_oidc_config oidc;
} api_config;

/* Check an OIDC configuration (issuer NULL: off, always fine): the keys that
 * go together, the JWKS source, the role map and the email domains. The
 * message names the hostd.conf key to fix. */
int api_oidc_config_check(const api_oidc_config *cfg, hd_error *err);

api_server *api_server_start(const api_config *cfg, orch_service *svc, hd_error *err);
void api_server_stop(api_server *srv);

/* api.h — hostd's HTTP API (libmicrohttpd + jansson) on a unix socket and,
 * when configured, on a TCP address with TLS only (docs/https.md).
 *
 * The server translates requests into orchestrator calls and nothing else:
 * routes are a table (api/handlers.c), errors map to statuses through one
 * table (api/errors.c). */
#pragma once

#include "common/error.h"

#include <stdbool.h>
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
        unsigned max_connections;  /* per listener */
        unsigned max_event_streams; /* open GET /v1/events at once, on top of max_connections */
        unsigned threads;          /* size of the connection thread pool */
        const char *version;       /* reported by /v1/health */
        /* Abuse limits (docs/https.md, "Limits"); 0 leaves a limit off. */
        unsigned header_timeout;   /* seconds from connect (or the last response) to complete headers */
        unsigned request_timeout;  /* seconds from connect (or the last response) to a complete request */
        size_t max_header_size;    /* per-connection memory: request line and headers must fit */
        unsigned max_connections_per_ip;   /* TCP only */
        unsigned auth_failures_per_minute; /* TCP only: then 429 for that address */
        /* HTTPS: NULL or "" serves the unix socket only. */
        const char *listen;        /* "0.0.0.0:8443", "[::]:8443" (IPv4 too), "127.0.0.1:8443" */
        const char *tls_cert;      /* PEM: the certificate, then its chain */
        const char *tls_key;       /* PEM: unencrypted private key, mode 0600 or stricter */
        const char *tls_min_version; /* "1.2" (default) or "1.3" */
        api_oidc_config oidc;
        unsigned token_max_lifetime; /* seconds a new API token may live at most; 0: 90 days */
        /* The audit log (docs/audit.md); audit_db NULL: none (tests only). */
        const char *audit_file;    /* the JSONL file for the SIEM */
        const char *audit_db;      /* hostd's database, as the store opened it */
        unsigned audit_retention_days; /* 0: keep every record in the database */
        void (*log_error)(const char *line); /* what the audit log must say to the daemon's log */
} api_config;

/* What a certificate says, for the log. */
typedef struct api_tls_info {
        char subject[256];
        char serial[80];           /* hex */
        char not_after[32];        /* ISO 8601 UTC */
        bool expired;
} api_tls_info;

/* Check an OIDC configuration (issuer NULL: off, always fine): the keys that
 * go together, the JWKS source, the role map and the email domains. The
 * message names the hostd.conf key to fix. */
int api_oidc_config_check(const api_oidc_config *cfg, hd_error *err);

api_server *api_server_start(const api_config *cfg, orch_service *svc, hd_error *err);
void api_server_stop(api_server *srv);

/* Read cfg->tls_cert and tls_key again and serve new TLS connections with
 * them; connections already open finish on the old ones. On error the old
 * certificate stays in use. info (may be NULL) describes the new one. */
int api_server_reload_tls(api_server *srv, api_tls_info *info, hd_error *err);
/* The certificate new HTTPS connections get; false without HTTPS. */
bool api_server_tls_info(const api_server *srv, api_tls_info *info);

/* Checks for `hostd -n` and the config loader, without starting anything:
 * a listen address ("IP:port", IPv6 in brackets, numeric only), and a
 * certificate and key pair (readable PEM, key not readable by group or
 * others, key matches certificate). */
int api_listen_check(const char *listen, hd_error *err);
int api_tls_check(const char *cert_path, const char *key_path, api_tls_info *info, hd_error *err);

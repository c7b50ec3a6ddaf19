/* https.h — what the files of api/ share about the HTTPS listener: the
 * certificate and key in memory (tls.c), the TCP listener whose TLS daemon
 * can be replaced on reload (https.c), and the one way server.c starts a
 * libmicrohttpd daemon for either listener. */
#pragma once

#include "api/internal.h"

#include <sys/socket.h>

struct MHD_Daemon;
struct MHD_OptionItem;

/* tls.c: PEM text of a certificate (with its chain) and its private key. */
typedef struct api_tls_pem {
        char *cert;
        char *key;             /* wiped when cleared */
} api_tls_pem;

/* Read and check both files (see api_tls_check); pem gets their text. */
int api_tls_load(const char *cert_path, const char *key_path, api_tls_pem *pem, api_tls_info *info,
                 hd_error *err);
void api_tls_pem_clear(api_tls_pem *pem);

/* server.c: a libmicrohttpd daemon serving srv's routes on the listening
 * socket fd, with the common limits and callbacks, plus flags and the
 * options in extra (terminated by MHD_OPTION_END). NULL if it cannot start. */
struct MHD_Daemon *api_server_mhd(api_server *srv, int fd, unsigned flags, const struct MHD_OptionItem *extra);

/* https.c: the TCP listener, TLS only. */
typedef struct api_https api_https;

/* Parse "IP:port" ("[IPv6]:port"): numeric addresses only, no name lookup. */
int api_listen_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, hd_error *err);

/* Bind cfg->listen, load the certificate, serve. */
api_https *api_https_start(const api_config *cfg, api_server *srv, hd_error *err);
/* The certificate new connections get. */
bool api_https_info(api_https *h, api_tls_info *info);
/* A new daemon with the files read again takes the listening socket; the
 * old one stops accepting and is stopped once its connections are gone
 * (or after a grace period). */
int api_https_reload(api_https *h, api_tls_info *info, hd_error *err);
void api_https_stop(api_https *h);

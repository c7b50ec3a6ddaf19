/* https.c — the API on a TCP address, TLS only (TLS 1.2 at least). One
 * listening socket for hostd's life; on reload a new libmicrohttpd daemon
 * with the new certificate takes it over and the old daemon, no longer
 * accepting, is stopped once its connections are done (docs/https.md,
 * "Reload"). */
#include "api/https.h"

#include "api/limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a replaced daemon may keep serving connections it has (a slow
 * download, an event stream) before it is stopped anyway. */
#define RETIRE_GRACE_MS (5 * 60 * 1000)

typedef struct instance {
        struct MHD_Daemon *mhd;
        int quiesced_fd;          /* its copy of the socket, once quiesced (ours to close then) */
        api_tls_pem pem;          /* must outlive mhd */
        uint64_t retire_by;
        struct instance *next;
} instance;

struct api_https {
        api_server *srv;
        const api_config *cfg;
        int fd;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        instance *current;
        instance *retiring;       /* quiesced, waiting for their connections to end */
        api_tls_info info;        /* of current */
        pthread_t reaper;
        bool stopping;
};

int api_listen_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, hd_error *err)
{
        char host[64];
        const char *port_s, *end;
        unsigned long port;
        char *pend;

        memset(ss, 0, sizeof(*ss));
        if (!text || !*text)
                goto bad;
        if (text[0] == '[') {
                end = strchr(text, ']');
                if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof(host))
                        goto bad;
                memcpy(host, text + 1, (size_t)(end - text - 1));
                host[end - text - 1] = '\0';
                port_s = end + 2;
        } else {
                end = strrchr(text, ':');
                if (end && memchr(text, ':', (size_t)(end - text)))
                        return hd_error_set(err, HD_E_INVALID,
                                            "listen: an IPv6 address goes in brackets, as in [::1]:8443, not '%s'",
                                            text);
                if (!end || (size_t)(end - text) >= sizeof(host))
                        goto bad;
                memcpy(host, text, (size_t)(end - text));
                host[end - text] = '\0';
                port_s = end + 1;
        }
        errno = 0;
        port = strtoul(port_s, &pend, 10);
        if (port_s[0] < '0' || port_s[0] > '9' || *pend || errno || port == 0 || port > 65535)
                goto bad;
        if (text[0] == '[') {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
                if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
                        goto bad;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)port);
                *len = sizeof(*s6);
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
                if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
                        goto bad;
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t)port);
                *len = sizeof(*s4);
        }
        return 0;
bad:
        return hd_error_set(err, HD_E_INVALID,
                            "listen must be a numeric ADDRESS:PORT such as 0.0.0.0:8443, 127.0.0.1:8443 or "
                            "[::]:8443, not '%s'",
                            text ? text : "");
}

int api_listen_check(const char *listen, hd_error *err)
{
        struct sockaddr_storage ss;
        socklen_t len;

        return api_listen_parse(listen, &ss, &len, err);
}

/* [::] also takes IPv4 (as mapped addresses): one line serves both. */
static int listen_tcp(const char *text, hd_error *err)
{
        struct sockaddr_storage ss;
        _cleanup_close_ int fd = -1;
        socklen_t len;
        int one = 1, zero = 0;

        if (api_listen_parse(text, &ss, &len, err) < 0)
                return -1;
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "socket for %s", text);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ss.ss_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot listen on %s", text);
        if (listen(fd, SOMAXCONN) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot listen on %s", text);
        return steal_fd(&fd);
}

static const char *priorities(const api_config *cfg)
{
        if (cfg->tls_min_version && strcmp(cfg->tls_min_version, "1.3") == 0)
                return "NORMAL:-VERS-ALL:+VERS-TLS1.3";
        return "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
}

static void instance_free(instance *in)
{
        if (!in)
                return;
        if (in->mhd)
                MHD_stop_daemon(in->mhd);
        if (in->quiesced_fd >= 0)
                close(in->quiesced_fd);
        api_tls_pem_clear(&in->pem);
        free(in);
}

static instance *instance_start(api_https *h, api_tls_info *info, hd_error *err)
{
        instance *in = hd_malloc0(sizeof(*in));

        in->quiesced_fd = -1;
        if (api_tls_load(h->cfg->tls_cert, h->cfg->tls_key, &in->pem, info, err) < 0) {
                free(in);
                return NULL;
        }
        {
                struct MHD_OptionItem extra[] = {
                        {MHD_OPTION_HTTPS_MEM_CERT, 0, in->pem.cert},
                        {MHD_OPTION_HTTPS_MEM_KEY, 0, in->pem.key},
                        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)priorities(h->cfg)},
                        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)h->cfg->max_connections_per_ip, NULL},
                        {MHD_OPTION_END, 0, NULL},
                };
                /* ITC: a daemon must be able to stop accepting (quiesce) on reload. */
                in->mhd = api_server_mhd(h->srv, h->fd, MHD_USE_TLS | MHD_USE_ITC, extra);
        }
        if (!in->mhd) {
                instance_free(in);
                hd_error_set(err, HD_E_INVALID,
                             "cannot start HTTPS on %s: GnuTLS refused the certificate or key in %s and %s",
                             h->cfg->listen, h->cfg->tls_cert, h->cfg->tls_key);
                return NULL;
        }
        return in;
}

static unsigned connections(const instance *in)
{
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(in->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

        return di ? di->num_connections : 0;
}

/* Stop retired daemons once their last connection is gone, or late. */
static void *reaper(void *arg)
{
        api_https *h = arg;

        pthread_mutex_lock(&h->lock);
        while (!h->stopping || h->retiring) {
                instance **pp = &h->retiring;
                uint64_t now = api_now_ms();
                struct timespec ts;

                while (*pp) {
                        instance *in = *pp;
                        if (!h->stopping && now < in->retire_by && connections(in) > 0) {
                                pp = &in->next;
                                continue;
                        }
                        *pp = in->next;
                        pthread_mutex_unlock(&h->lock);
                        instance_free(in);
                        pthread_mutex_lock(&h->lock);
                        pp = &h->retiring;
                }
                if (h->stopping)
                        continue;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&h->wake, &h->lock, &ts);
        }
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

api_https *api_https_start(const api_config *cfg, api_server *srv, hd_error *err)
{
        api_https *h = hd_malloc0(sizeof(*h));

        h->srv = srv;
        h->cfg = cfg;
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->wake, NULL);
        h->fd = listen_tcp(cfg->listen, err);
        if (h->fd < 0)
                goto fail;
        h->current = instance_start(h, &h->info, err);
        if (!h->current)
                goto fail;
        if (pthread_create(&h->reaper, NULL, reaper, h) != 0) {
                hd_error_set(err, HD_E_INTERNAL, "cannot start the HTTPS reaper thread");
                instance_free(h->current);
                goto fail;
        }
        return h;
fail:
        if (h->fd >= 0)
                close(h->fd);
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
}

bool api_https_info(api_https *h, api_tls_info *info)
{
        pthread_mutex_lock(&h->lock);
        *info = h->info;
        pthread_mutex_unlock(&h->lock);
        return true;
}

int api_https_reload(api_https *h, api_tls_info *info, hd_error *err)
{
        api_tls_info fresh_info;
        instance *fresh = instance_start(h, &fresh_info, err), *old;

        if (!fresh)
                return -1;
        if (info)
                *info = fresh_info;
        pthread_mutex_lock(&h->lock);
        old = h->current;
        h->current = fresh;
        h->info = fresh_info;
        /* Both accept for a moment; then only the new one does. A quiesced
         * daemon leaves its copy of the socket to us. */
        old->quiesced_fd = MHD_quiesce_daemon(old->mhd);
        old->retire_by = api_now_ms() + RETIRE_GRACE_MS;
        old->next = h->retiring;
        h->retiring = old;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        return 0;
}

void api_https_stop(api_https *h)
{
        if (!h)
                return;
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->reaper, NULL);
        instance_free(h->current);
        close(h->fd);
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        free(h);
}

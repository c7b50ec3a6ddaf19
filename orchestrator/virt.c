/* virt.c — the one file of hostd that includes libvirt: a connection, and a
 * workspace domain's lifecycle (define, start, shutdown, destroy, undefine,
 * state, lookup, list).
 *
 * libvirt is told never to print errors (a no-op error function); after a
 * failed call the calling thread's virGetLastError() is translated into an
 * hd_error: HD_E_NOT_FOUND for an unknown domain or network, HD_E_CONFLICT
 * for an operation the domain's state forbids, HD_E_LIBVIRT otherwise.
 * libvirt connections are thread-safe and the last error is per thread, so
 * one orch_virt serves every worker; the mutex only guards reconnecting. */
#include "orchestrator/orchestrator.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

HD_DEFINE_CLEANUP(virConnectPtr, virConnectClose)
HD_DEFINE_CLEANUP(virDomainPtr, virDomainFree)
HD_DEFINE_CLEANUP(virNetworkPtr, virNetworkFree)

#define DEFAULT_URI "qemu:///system"
#define SHUTDOWN_REPEAT_S 10 /* a guest early in boot may miss one press */
#define POLL_MS 200

struct orch_virt {
        pthread_mutex_t lock;
        char *uri;
        virConnectPtr conn; /* NULL until the first call, or after it was lost */
};

/* ---- errors ------------------------------------------------------------------ */

static void quiet(void *opaque, virErrorPtr e)
{
        (void)opaque;
        (void)e;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libvirt(void)
{
        virInitialize();
        virSetErrorFunc(NULL, quiet);
}

/* This thread's last libvirt error code (VIR_ERR_OK when none). */
static int last_code(void)
{
        virErrorPtr e = virGetLastError();

        return e ? e->code : VIR_ERR_OK;
}

/* Fill err from this thread's last libvirt error, with context; returns -1. */
static int virt_error(hd_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int virt_error(hd_error *err, const char *fmt, ...)
{
        virErrorPtr e = virGetLastError();
        hd_errcode code = HD_E_LIBVIRT;
        char context[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(context, sizeof(context), fmt, ap);
        va_end(ap);
        if (e) {
                switch (e->code) {
                case VIR_ERR_NO_DOMAIN:
                case VIR_ERR_NO_NETWORK:
                        code = HD_E_NOT_FOUND;
                        break;
                case VIR_ERR_OPERATION_INVALID:
                        code = HD_E_CONFLICT;
                        break;
                default:
                        break;
                }
        }
        hd_error_set(err, code, "%s: %s", context,
                     e && e->message ? e->message : "libvirt gave no reason");
        virResetLastError();
        return -1;
}

/* ---- connection -------------------------------------------------------------- */

orch_virt *orch_virt_open(const char *uri, hd_error *err)
{
        orch_virt *v;

        pthread_once(&init_once, init_libvirt);
        v = hd_malloc0(sizeof(*v));
        pthread_mutex_init(&v->lock, NULL);
        v->uri = hd_strdup(uri && *uri ? uri : DEFAULT_URI);
        v->conn = virConnectOpen(v->uri);
        if (!v->conn) {
                virt_error(err, "cannot connect to libvirt at %s (is libvirtd running?)", v->uri);
                orch_virt_close(v);
                return NULL;
        }
        virConnSetErrorFunc(v->conn, NULL, quiet);
        return v;
}

void orch_virt_close(orch_virt *v)
{
        if (!v)
                return;
        if (v->conn)
                virConnectClose(v->conn);
        pthread_mutex_destroy(&v->lock);
        free(v->uri);
        free(v);
}

/* A reference to a live connection (reopened when libvirtd went away);
 * the caller drops it with virConnectClose(). */
static virConnectPtr conn_get(orch_virt *v, hd_error *err)
{
        virConnectPtr c;

        pthread_mutex_lock(&v->lock);
        if (v->conn && virConnectIsAlive(v->conn) != 1) {
                virConnectClose(v->conn);
                v->conn = NULL;
        }
        if (!v->conn) {
                v->conn = virConnectOpen(v->uri);
                if (v->conn)
                        virConnSetErrorFunc(v->conn, NULL, quiet);
        }
        c = v->conn;
        if (c)
                virConnectRef(c);
        pthread_mutex_unlock(&v->lock);
        if (!c)
                virt_error(err, "cannot reconnect to libvirt at %s", v->uri);
        return c;
}

static virDomainPtr dom_get(virConnectPtr c, const char *name, hd_error *err)
{
        virDomainPtr d;

        if (orch_domain_id_check(name, err) < 0)
                return NULL;
        d = virDomainLookupByName(c, name);
        if (!d)
                virt_error(err, "domain %s", name);
        return d;
}

/* Both a connection and a domain, for the lifecycle calls below. */
#define WITH_DOMAIN(v, name, err)                                        \
        _cleanup_(virConnectClosep) virConnectPtr conn = conn_get(v, err); \
        _cleanup_(virDomainFreep) virDomainPtr dom = conn ? dom_get(conn, name, err) : NULL; \
        if (!dom)                                                        \
                return -1

/* ---- state ------------------------------------------------------------------- */

const char *orch_dom_state_name(orch_dom_state s)
{
        static const char *const names[] = {
                [ORCH_DOM_UNKNOWN] = "unknown",   [ORCH_DOM_RUNNING] = "running",
                [ORCH_DOM_PAUSED] = "paused",     [ORCH_DOM_SHUTTING_DOWN] = "shutting_down",
                [ORCH_DOM_SHUTOFF] = "shutoff",   [ORCH_DOM_CRASHED] = "crashed",
                [ORCH_DOM_SUSPENDED] = "suspended",
        };

        if ((unsigned)s >= HD_ARRAY_SIZE(names))
                return "unknown";
        return names[s];
}

static orch_dom_state translate_state(int st)
{
        switch (st) {
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
                return ORCH_DOM_RUNNING;
        case VIR_DOMAIN_PAUSED:
                return ORCH_DOM_PAUSED;
        case VIR_DOMAIN_SHUTDOWN:
                return ORCH_DOM_SHUTTING_DOWN;
        case VIR_DOMAIN_SHUTOFF:
                return ORCH_DOM_SHUTOFF;
        case VIR_DOMAIN_CRASHED:
                return ORCH_DOM_CRASHED;
        case VIR_DOMAIN_PMSUSPENDED:
                return ORCH_DOM_SUSPENDED;
        default:
                return ORCH_DOM_UNKNOWN;
        }
}

/* Functions below take the domain's name from their caller: every libvirt
 * call, virDomainGetName() included, resets the thread's last error, so none
 * may run between a failure and virt_error(). */
static int dom_state(virDomainPtr dom, const char *name, orch_dom_state *out, hd_error *err)
{
        int st, reason;

        if (virDomainGetState(dom, &st, &reason, 0) < 0)
                return virt_error(err, "state of domain %s", name);
        *out = translate_state(st);
        return 0;
}

int orch_virt_state(orch_virt *v, const char *name, orch_dom_state *out, hd_error *err)
{
        WITH_DOMAIN(v, name, err);
        return dom_state(dom, name, out, err);
}

/* After a failed stop: fine when the domain is off by now (it stopped on
 * its own in between), else the error of the failed call. */
static int off_or_error(virDomainPtr dom, const char *name, hd_error *err, const char *what)
{
        hd_error first = {0};
        orch_dom_state st = ORCH_DOM_UNKNOWN;

        virt_error(&first, "%s domain %s", what, name);
        if (dom_state(dom, name, &st, NULL) == 0 && st == ORCH_DOM_SHUTOFF)
                return 0;
        if (err)
                *err = first;
        return -1;
}

/* ---- lifecycle --------------------------------------------------------------- */

/* HD_E_NOT_FOUND with a hint when the libvirt network does not exist. */
static int network_check(virConnectPtr conn, const char *network, hd_error *err)
{
        _cleanup_(virNetworkFreep) virNetworkPtr net = virNetworkLookupByName(conn, network);

        if (net)
                return 0;
        if (last_code() == VIR_ERR_NO_NETWORK) {
                virResetLastError();
                return hd_error_set(err, HD_E_NOT_FOUND,
                                    "libvirt network '%s' does not exist: define and start it "
                                    "(virsh net-define, net-start) or fix the workspace's network",
                                    network);
        }
        return virt_error(err, "libvirt network %s", network);
}

int orch_virt_network_check(orch_virt *v, const char *network, hd_error *err)
{
        _cleanup_(virConnectClosep) virConnectPtr conn = conn_get(v, err);

        return conn ? network_check(conn, network, err) : -1;
}

int orch_virt_define(orch_virt *v, const orch_domain_spec *spec, hd_error *err)
{
        _cleanup_free_ char *xml = orch_domain_xml(spec, err);
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;

        if (!xml || !(conn = conn_get(v, err)))
                return -1;
        dom = virDomainLookupByName(conn, spec->id);
        if (dom)
                return hd_error_set(err, HD_E_CONFLICT, "a domain named %s is already defined",
                                    spec->id);
        if (last_code() != VIR_ERR_NO_DOMAIN)
                return virt_error(err, "looking up domain %s", spec->id);
        virResetLastError();
        if (spec->network && network_check(conn, spec->network, err) < 0)
                return -1;
        dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
        if (!dom)
                return virt_error(err, "cannot define domain %s", spec->id);
        return 0;
}

int orch_virt_start(orch_virt *v, const char *name, hd_error *err)
{
        WITH_DOMAIN(v, name, err);
        if (virDomainCreate(dom) < 0)
                return virt_error(err, "cannot start domain %s", name);
        return 0;
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int destroy(virDomainPtr dom, const char *name, hd_error *err)
{
        orch_dom_state st = ORCH_DOM_UNKNOWN;

        if (dom_state(dom, name, &st, err) < 0)
                return -1;
        if (st == ORCH_DOM_SHUTOFF)
                return 0;
        if (virDomainDestroy(dom) < 0)
                return off_or_error(dom, name, err, "cannot destroy");
        return 0;
}

int orch_virt_shutdown(orch_virt *v, const char *name, unsigned timeout_s, bool *forced,
                       hd_error *err)
{
        const struct timespec poll_ts = {0, POLL_MS * 1000000L};
        double deadline = now_s() + timeout_s, next_press = 0;
        WITH_DOMAIN(v, name, err);

        if (forced)
                *forced = false;
        for (;;) {
                orch_dom_state st = ORCH_DOM_UNKNOWN;
                double t = now_s();

                if (dom_state(dom, name, &st, err) < 0)
                        return -1;
                if (st == ORCH_DOM_SHUTOFF)
                        return 0;
                if (t >= deadline)
                        break;
                if (t >= next_press) {
                        if (virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) < 0 &&
                            off_or_error(dom, name, err, "cannot shut down") < 0)
                                return -1;
                        next_press = t + SHUTDOWN_REPEAT_S;
                }
                nanosleep(&poll_ts, NULL);
        }
        if (forced)
                *forced = true;
        return destroy(dom, name, err);
}

int orch_virt_destroy(orch_virt *v, const char *name, hd_error *err)
{
        WITH_DOMAIN(v, name, err);
        return destroy(dom, name, err);
}

int orch_virt_undefine(orch_virt *v, const char *name, hd_error *err)
{
        const unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                               VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                               VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
                               VIR_DOMAIN_UNDEFINE_NVRAM;
        int active;
        WITH_DOMAIN(v, name, err);

        /* Undefining a running domain would leave it running, transient and
         * out of sight of a restarted hostd. */
        active = virDomainIsActive(dom);
        if (active < 0)
                return virt_error(err, "domain %s", name);
        if (active)
                return hd_error_set(err, HD_E_CONFLICT,
                                    "domain %s is running: destroy it before undefining it", name);
        if (virDomainUndefineFlags(dom, flags) < 0)
                return virt_error(err, "cannot undefine domain %s", name);
        return 0;
}

/* ---- lookup and list --------------------------------------------------------- */

void orch_domain_info_free(orch_domain_info *list, size_t n)
{
        for (size_t i = 0; list && i < n; i++)
                orch_domain_meta_clear(&list[i].meta);
        free(list);
}

/* HD_E_CONFLICT when the domain is not hostd's: no hostd metadata, or an id
 * that is not its name (a copied definition). */
static int dom_info(virDomainPtr dom, orch_domain_info *out, hd_error *err)
{
        const char *name = virDomainGetName(dom);
        _cleanup_free_ char *md = NULL;
        orch_domain_meta m = {0};
        orch_dom_state st = ORCH_DOM_UNKNOWN;

        /* The whole XML: virDomainGetMetadata strips the namespace. */
        md = virDomainGetXMLDesc(dom, 0);
        if (!md)
                return virt_error(err, "XML of domain %s", name);
        if (orch_domain_meta_parse(md, &m, err) < 0) {
                if (err && err->code == HD_E_NOT_FOUND)
                        return hd_error_set(err, HD_E_CONFLICT,
                                            "domain %s is not managed by hostd", name);
                return hd_error_prefix(err, "domain %s", name);
        }
        if (strcmp(m.id, name) != 0) {
                hd_error_set(err, HD_E_CONFLICT,
                             "domain %s carries the hostd metadata of workspace %s", name, m.id);
                orch_domain_meta_clear(&m);
                return -1;
        }
        if (dom_state(dom, name, &st, err) < 0) {
                orch_domain_meta_clear(&m);
                return -1;
        }
        out->meta = m;
        out->state = st;
        return 0;
}

int orch_virt_lookup(orch_virt *v, const char *name, orch_domain_info *out, hd_error *err)
{
        WITH_DOMAIN(v, name, err);
        return dom_info(dom, out, err);
}

int orch_virt_list(orch_virt *v, orch_domain_info **out, size_t *n, hd_error *err)
{
        _cleanup_(virConnectClosep) virConnectPtr conn = conn_get(v, err);
        orch_domain_info *list = NULL;
        virDomainPtr *doms = NULL;
        size_t count = 0;
        int ndoms, r = 0;

        if (!conn)
                return -1;
        ndoms = virConnectListAllDomains(conn, &doms, 0);
        if (ndoms < 0)
                return virt_error(err, "cannot list domains");
        list = hd_malloc0(sizeof(*list) * (size_t)(ndoms ? ndoms : 1));
        for (int i = 0; i < ndoms; i++) {
                hd_error e = {0};

                if (r == 0 && dom_info(doms[i], &list[count], &e) == 0)
                        count++;
                /* Not hostd's, malformed, or gone since the listing: skip it. */
                else if (r == 0 && e.code != HD_E_CONFLICT && e.code != HD_E_INVALID &&
                         e.code != HD_E_NOT_FOUND) {
                        if (err)
                                *err = e;
                        r = -1;
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        if (r < 0) {
                orch_domain_info_free(list, count);
                return -1;
        }
        *out = list;
        *n = count;
        return 0;
}

const char *orch_virt_type(orch_virt *v, const char *setting, hd_error *err)
{
        _cleanup_(virConnectClosep) virConnectPtr conn = conn_get(v, err);
        _cleanup_free_ char *caps = NULL;

        if (!conn)
                return NULL;
        /* TCG needs no capability check (libvirtd may take seconds to build one). */
        if (setting && strcmp(setting, "qemu") == 0)
                return "qemu";
        caps = virConnectGetCapabilities(conn);
        if (!caps) {
                virt_error(err, "cannot read libvirt's capabilities");
                return NULL;
        }
        return orch_virt_type_detect(setting, caps, NULL, err);
}

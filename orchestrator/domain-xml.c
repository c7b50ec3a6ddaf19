/* domain-xml.c — checks an orch_domain_spec and renders it to libvirt domain
 * XML with libxml2.
 *
 * Every string that comes from outside is either checked against a strict
 * pattern (id, network, bridge, MAC, virt type) or set as a text node or an
 * attribute through libxml2 (xmlNewTextChild / xmlNewProp), which escapes it
 * on output; nothing is printf-ed into XML.  The domain has no graphics, no
 * USB and a serial console only: a workspace is reached over SSH. */
#include "orchestrator/orchestrator.h"
#include "orchestrator/domain.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include <libxml/chvalid.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

HD_DEFINE_CLEANUP(xmlDocPtr, xmlFreeDoc)
HD_DEFINE_CLEANUP(xmlBufferPtr, xmlBufferFree)

/* ---- checks ---------------------------------------------------------------- */

/* Decode one UTF-8 sequence strictly: no overlong forms, no surrogates,
 * nothing past U+10FFFF.  -1 when invalid (a NUL ends a sequence early). */
static int utf8_next(const unsigned char *p, int *len)
{
        static const int min[5] = {0, 0, 0x80, 0x800, 0x10000};
        int n, c;

        if (p[0] < 0x80) {
                *len = 1;
                return p[0];
        }
        if ((p[0] & 0xe0) == 0xc0)
                n = 2, c = p[0] & 0x1f;
        else if ((p[0] & 0xf0) == 0xe0)
                n = 3, c = p[0] & 0x0f;
        else if ((p[0] & 0xf8) == 0xf0)
                n = 4, c = p[0] & 0x07;
        else
                return -1;
        for (int i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return -1;
                c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return -1;
        *len = n;
        return c;
}

int orch_text_check(const char *field, const char *s, size_t max, bool required,
                    hd_error *err)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t len;

        if (!s || !*s) {
                if (required)
                        return hd_error_set(err, HD_E_INVALID, "%s is required", field);
                return 0;
        }
        len = strlen(s);
        if (len > max)
                return hd_error_set(err, HD_E_INVALID, "%s is %zu bytes long; the limit is %zu",
                                    field, len, max);
        while (*p) {
                int n = 1;
                int c = utf8_next(p, &n);

                /* C0 and C1 controls, DEL, surrogates, U+FFFE/U+FFFF are out. */
                if (c < 0x20 || (c >= 0x7f && c < 0xa0) || !xmlIsCharQ(c))
                        return hd_error_set(err, HD_E_INVALID,
                                            "%s must be printable UTF-8 text without control "
                                            "characters (bad byte at offset %zu)",
                                            field, (size_t)(p - (const unsigned char *)s));
                p += n;
        }
        return 0;
}

int orch_domain_id_check(const char *id, hd_error *err)
{
        size_t len = id ? strlen(id) : 0;

        if (len == 0 || len > ORCH_ID_MAX || id[0] == '-' ||
            strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
                return hd_error_set(err, HD_E_INVALID,
                                    "workspace id '%.80s' is invalid: use 1 to %d lowercase "
                                    "letters, digits and '-', not starting with '-'",
                                    id ? id : "", ORCH_ID_MAX);
        return 0;
}

/* A libvirt network name or a Linux interface name: [A-Za-z0-9_.-], not
 * starting with '-' or '.', up to max bytes. */
static int ifname_check(const char *field, const char *s, size_t max, hd_error *err)
{
        size_t len = strlen(s);
        bool ok = len > 0 && len <= max && s[0] != '-' && s[0] != '.';

        for (size_t i = 0; ok && i < len; i++)
                ok = isascii((unsigned char)s[i]) &&
                     (isalnum((unsigned char)s[i]) || strchr("_.-", s[i]));
        if (!ok)
                return hd_error_set(err, HD_E_INVALID,
                                    "%s '%.80s' is invalid: use 1 to %zu letters, digits, '_', "
                                    "'.' and '-', not starting with '-' or '.'",
                                    field, s, max);
        return 0;
}

/* "52:54:00:12:34:56": six hex pairs, unicast (libvirt refuses multicast). */
static int mac_check(const char *mac, hd_error *err)
{
        bool ok = strlen(mac) == 17;

        for (int i = 0; ok && i < 17; i++)
                ok = (i % 3 == 2) ? mac[i] == ':' : isxdigit((unsigned char)mac[i]) != 0;
        if (ok) {
                char first[3] = {mac[0], mac[1], '\0'};
                ok = (strtoul(first, NULL, 16) & 1) == 0;
        }
        if (!ok)
                return hd_error_set(err, HD_E_INVALID,
                                    "mac '%.40s' is invalid: use six hex pairs separated by ':' "
                                    "with an even (unicast) first octet, e.g. 52:54:00:12:34:56",
                                    mac);
        return 0;
}

static int path_check(const char *field, const char *path, bool required, size_t max,
                      hd_error *err)
{
        if (orch_text_check(field, path, max, required, err) < 0)
                return -1;
        if (path && *path && path[0] != '/')
                return hd_error_set(err, HD_E_INVALID, "%s '%.200s' must be an absolute path",
                                    field, path);
        return 0;
}

static int spec_check(const orch_domain_spec *s, hd_error *err)
{
        const size_t sun_max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

        if (orch_domain_id_check(s->id, err) < 0 ||
            orch_text_check("display_name", s->display_name, ORCH_META_MAX, true, err) < 0 ||
            orch_text_check("owner", s->owner, ORCH_META_MAX, true, err) < 0 ||
            orch_text_check("template", s->template_name, ORCH_META_MAX, false, err) < 0 ||
            orch_text_check("image", s->image, ORCH_META_MAX, false, err) < 0 ||
            orch_text_check("instance", s->instance, ORCH_META_MAX, false, err) < 0)
                return -1;
        if (s->created <= 0)
                return hd_error_set(err, HD_E_INVALID,
                                    "created must be a positive Unix time (got %lld)",
                                    (long long)s->created);
        if (!s->virt_type || (strcmp(s->virt_type, "kvm") != 0 && strcmp(s->virt_type, "qemu") != 0))
                return hd_error_set(err, HD_E_INVALID,
                                    "virt_type must be \"kvm\" or \"qemu\" (got \"%.20s\")",
                                    s->virt_type ? s->virt_type : "");
        if (s->vcpus < 1 || s->vcpus > ORCH_VCPUS_MAX)
                return hd_error_set(err, HD_E_INVALID, "vcpus must be between 1 and %d (got %u)",
                                    ORCH_VCPUS_MAX, s->vcpus);
        if (s->memory_mib < ORCH_MEMORY_MIB_MIN || s->memory_mib > ORCH_MEMORY_MIB_MAX)
                return hd_error_set(err, HD_E_INVALID,
                                    "memory_mib must be between %u and %u (got %llu)",
                                    ORCH_MEMORY_MIB_MIN, ORCH_MEMORY_MIB_MAX,
                                    (unsigned long long)s->memory_mib);
        if (path_check("disk_path", s->disk_path, true, PATH_MAX, err) < 0)
                return -1;
        if (!!s->network == !!s->bridge)
                return hd_error_set(err, HD_E_INVALID,
                                    "give exactly one of network and bridge (got %s)",
                                    s->network ? "both" : "neither");
        if (s->network && ifname_check("network", s->network, 64, err) < 0)
                return -1;
        if (s->bridge && ifname_check("bridge", s->bridge, 15, err) < 0)
                return -1;
        if (s->mac && mac_check(s->mac, err) < 0)
                return -1;
        if (path_check("agent_socket_path", s->agent_socket_path, true, sun_max, err) < 0 ||
            path_check("console_log_path", s->console_log_path, true, PATH_MAX, err) < 0 ||
            path_check("emulator", s->emulator, false, PATH_MAX, err) < 0)
                return -1;
        return 0;
}

/* ---- rendering --------------------------------------------------------------- */

static xmlNodePtr elem(xmlNodePtr parent, const char *name)
{
        return xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

/* A child element whose text content is escaped by libxml2. */
static xmlNodePtr text(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *value)
{
        return xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST value);
}

static xmlNodePtr num(xmlNodePtr parent, const char *name, unsigned long long value)
{
        char s[32];

        snprintf(s, sizeof(s), "%llu", value);
        return text(parent, NULL, name, s);
}

/* Attributes are given as name, value pairs ending with NULL; xmlNewProp
 * stores each value as text, escaped on output. */
static xmlNodePtr elem_attrs(xmlNodePtr parent, const char *name, ...)
        __attribute__((sentinel));
static xmlNodePtr elem_attrs(xmlNodePtr parent, const char *name, ...)
{
        xmlNodePtr n = elem(parent, name);
        const char *k;
        va_list ap;

        va_start(ap, name);
        while ((k = va_arg(ap, const char *)))
                xmlNewProp(n, BAD_CAST k, BAD_CAST va_arg(ap, const char *));
        va_end(ap);
        return n;
}

static void add_metadata(xmlNodePtr root, const orch_domain_spec *s)
{
        xmlNodePtr ws = elem(elem(root, "metadata"), "workspace");
        xmlNsPtr ns = xmlNewNs(ws, BAD_CAST ORCH_XMLNS, BAD_CAST "hostd");
        time_t t = (time_t)s->created;
        char created[32];
        struct tm tm;

        xmlSetNs(ws, ns);
        text(ws, ns, "id", s->id);
        text(ws, ns, "name", s->display_name);
        text(ws, ns, "owner", s->owner);
        if (s->template_name && *s->template_name)
                text(ws, ns, "template", s->template_name);
        if (s->image && *s->image)
                text(ws, ns, "image", s->image);
        if (s->instance && *s->instance)
                text(ws, ns, "instance", s->instance);
        strftime(created, sizeof(created), ORCH_TIME_FMT, gmtime_r(&t, &tm));
        text(ws, ns, "created", created);
}

static void add_cpu(xmlNodePtr root, const orch_domain_spec *s)
{
        if (strcmp(s->virt_type, "kvm") == 0) {
                /* The host's CPU as it is: fastest, and hostd does not live-migrate. */
                elem_attrs(root, "cpu", "mode", "host-passthrough", "check", "none",
                           "migratable", "on", NULL);
                return;
        }
        /* TCG cannot pass the host CPU through.  libvirt's default, qemu64,
         * lacks SSE4.2 and POPCNT, so x86-64-v2 distributions (RHEL 9 and its
         * rebuilds) do not boot; with mode 'maximum' (-cpu max) the Debian 12
         * cloud kernel stalled a second into its boot here (libguestfs, also
         * on TCG, runs max with 5-level paging off).  Nehalem is the oldest
         * named x86-64-v2 model, TCG implements all of it, and it boots. */
        xmlNodePtr cpu = elem_attrs(root, "cpu", "mode", "custom", "match", "exact", NULL);
        xmlNewProp(text(cpu, NULL, "model", "Nehalem"), BAD_CAST "fallback", BAD_CAST "forbid");
}

static void add_disk(xmlNodePtr devices, const orch_domain_spec *s)
{
        xmlNodePtr disk = elem_attrs(devices, "disk", "type", "file", "device", "disk", NULL);

        /* cache='none' (O_DIRECT on the host, the guest's flushes honoured):
         * the host's memory belongs to guests, and double caching every
         * guest's disk in the host page cache makes memory use unpredictable
         * (libvirt, Nova and Proxmox default to it for the same reason).  It
         * needs a file system with O_DIRECT, which hostd's state directory is
         * (not tmpfs).  io='native' goes with it; discard='unmap' lets a
         * guest's fstrim shrink its overlay. */
        elem_attrs(disk, "driver", "name", "qemu", "type", "qcow2", "cache", "none", "io",
                   "native", "discard", "unmap", NULL);
        elem_attrs(disk, "source", "file", s->disk_path, NULL);
        elem_attrs(disk, "target", "dev", "vda", "bus", "virtio", NULL);
}

static void add_interface(xmlNodePtr devices, const orch_domain_spec *s)
{
        xmlNodePtr nic = elem_attrs(devices, "interface", "type", s->network ? "network" : "bridge",
                                    NULL);
        char mac[18];

        if (s->mac) {
                /* libvirt reports MACs in lower case: keep one spelling. */
                for (size_t i = 0; i < sizeof(mac); i++)
                        mac[i] = (char)tolower((unsigned char)s->mac[i]);
                elem_attrs(nic, "mac", "address", mac, NULL);
        }
        if (s->network)
                elem_attrs(nic, "source", "network", s->network, NULL);
        else
                elem_attrs(nic, "source", "bridge", s->bridge, NULL);
        elem_attrs(nic, "model", "type", "virtio", NULL);
}

static void add_devices(xmlNodePtr root, const orch_domain_spec *s)
{
        xmlNodePtr devices = elem(root, "devices");
        xmlNodePtr n;

        if (s->emulator && *s->emulator)
                text(devices, NULL, "emulator", s->emulator);
        add_disk(devices, s);
        /* No USB controller at all, hence no tablet: nothing is plugged in. */
        elem_attrs(devices, "controller", "type", "usb", "model", "none", NULL);
        add_interface(devices, s);

        n = elem_attrs(devices, "serial", "type", "pty", NULL);
        elem_attrs(n, "log", "file", s->console_log_path, "append", "on", NULL);
        elem_attrs(n, "target", "port", "0", NULL);
        n = elem_attrs(devices, "console", "type", "pty", NULL);
        elem_attrs(n, "target", "type", "serial", "port", "0", NULL);

        n = elem_attrs(devices, "channel", "type", "unix", NULL);
        elem_attrs(n, "source", "mode", "bind", "path", s->agent_socket_path, NULL);
        elem_attrs(n, "target", "type", "virtio", "name", ORCH_AGENT_CHANNEL, NULL);

        /* No <graphics> and no <video>: no VNC or SPICE listener exists. */
        elem_attrs(devices, "memballoon", "model", "virtio", NULL);
        n = elem_attrs(devices, "rng", "model", "virtio", NULL);
        xmlNewProp(text(n, NULL, "backend", "/dev/urandom"), BAD_CAST "model", BAD_CAST "random");
}

static xmlDocPtr render(const orch_domain_spec *s)
{
        xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
        xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "domain");
        xmlNodePtr n;

        xmlDocSetRootElement(doc, root);
        xmlNewProp(root, BAD_CAST "type", BAD_CAST s->virt_type);
        text(root, NULL, "name", s->id);
        add_metadata(root, s);
        xmlNewProp(num(root, "memory", s->memory_mib), BAD_CAST "unit", BAD_CAST "MiB");
        xmlNewProp(num(root, "currentMemory", s->memory_mib), BAD_CAST "unit", BAD_CAST "MiB");
        xmlNewProp(num(root, "vcpu", s->vcpus), BAD_CAST "placement", BAD_CAST "static");

        n = elem(root, "os");
        xmlNewProp(text(n, NULL, "type", "hvm"), BAD_CAST "arch", BAD_CAST "x86_64");
        xmlNewProp(n->children, BAD_CAST "machine", BAD_CAST "q35");
        elem_attrs(n, "boot", "dev", "hd", NULL);
        n = elem(root, "features");
        elem(n, "acpi");
        elem(n, "apic");
        add_cpu(root, s);

        /* UTC, with the timer policies virt-install uses: a guest that was
         * not scheduled catches up on RTC ticks instead of drifting. */
        n = elem_attrs(root, "clock", "offset", "utc", NULL);
        elem_attrs(n, "timer", "name", "rtc", "tickpolicy", "catchup", NULL);
        elem_attrs(n, "timer", "name", "pit", "tickpolicy", "delay", NULL);
        elem_attrs(n, "timer", "name", "hpet", "present", "no", NULL);
        text(root, NULL, "on_poweroff", "destroy");
        text(root, NULL, "on_reboot", "restart");
        text(root, NULL, "on_crash", "destroy");
        n = elem(root, "pm");
        elem_attrs(n, "suspend-to-mem", "enabled", "no", NULL);
        elem_attrs(n, "suspend-to-disk", "enabled", "no", NULL);
        add_devices(root, s);
        return doc;
}

char *orch_domain_xml(const orch_domain_spec *spec, hd_error *err)
{
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = NULL;
        _cleanup_buf_ hd_buf out = HD_BUF_INIT;
        xmlSaveCtxtPtr save;
        long r;

        if (!spec) {
                hd_error_set(err, HD_E_INTERNAL, "no domain spec given");
                return NULL;
        }
        if (spec_check(spec, err) < 0)
                return NULL;
        doc = render(spec);
        buf = xmlBufferCreate();
        save = buf ? xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL) : NULL;
        r = save ? xmlSaveDoc(save, doc) : -1;
        if (!save || xmlSaveClose(save) < 0 || r < 0) {
                hd_error_set(err, HD_E_INTERNAL, "cannot serialize the domain XML of %s",
                             spec->id);
                return NULL;
        }
        hd_buf_append_len(&out, (const char *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
        return hd_buf_steal(&out);
}

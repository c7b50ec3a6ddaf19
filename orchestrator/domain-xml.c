/* domain-xml.c — checks an orch_domain_spec and renders it to libvirt domain
 * XML with libxml2.
 *
 * Every string that comes from outside is either checked against a strict
 * pattern (id, network, bridge, MAC, virt type) or set as a text node or an
 * attribute through libxml2 (xmlNewTextChild / xmlNewProp), which escapes it
 * on output; nothing is printf-ed into XML.  The domain has no graphics, no
 * USB and a serial console only: a workspace is reached over SSH.  GPUs are
 * passed through with VFIO, each card on its own PCIe root port, with the
 * guest's memory and vCPUs on the GPUs' NUMA node when the caller says so. */
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

/* A host PCI address, "0000:3b:00.0": ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$
 * with the slot at most 0x1f (5 bits in PCI). */
typedef struct pci_addr {
        unsigned domain, bus, slot, function;
} pci_addr;

static bool pci_addr_parse(const char *a, pci_addr *out)
{
        static const char pattern[] = "xxxx:xx:xx.f";
        char *end;

        if (!a || strlen(a) != sizeof(pattern) - 1)
                return false;
        for (size_t i = 0; pattern[i]; i++) {
                bool ok = pattern[i] == 'x'   ? isdigit((unsigned char)a[i]) ||
                                                        (a[i] >= 'a' && a[i] <= 'f')
                          : pattern[i] == 'f' ? a[i] >= '0' && a[i] <= '7'
                                              : a[i] == pattern[i];
                if (!ok)
                        return false;
        }
        out->domain = (unsigned)strtoul(a, &end, 16);
        out->bus = (unsigned)strtoul(a + 5, &end, 16);
        out->slot = (unsigned)strtoul(a + 8, &end, 16);
        out->function = (unsigned)(a[11] - '0');
        return out->slot <= 0x1f;
}

/* The cards behind the hostdevs: functions that share domain:bus:slot, in
 * the order their first function was given.  fn[f] is the index into
 * s->hostdevs of function f, or -1. */
typedef struct card {
        pci_addr addr;
        int fn[8];
        unsigned n_fn;
} card;

static int cards_of(const orch_domain_spec *s, card *cards, size_t *n_cards, hd_error *err)
{
        *n_cards = 0;
        if (s->n_hostdevs > ORCH_HOSTDEVS_MAX)
                return hd_error_set(err, HD_E_INVALID,
                                    "%zu PCI functions given for passthrough; at most %d fit "
                                    "one workspace",
                                    s->n_hostdevs, ORCH_HOSTDEVS_MAX);
        if (s->n_hostdevs && !s->hostdevs)
                return hd_error_set(err, HD_E_INTERNAL, "n_hostdevs is %zu but no hostdevs given",
                                    s->n_hostdevs);
        for (size_t i = 0; i < s->n_hostdevs; i++) {
                const char *a = s->hostdevs[i].address;
                pci_addr pa;
                size_t c;

                if (!pci_addr_parse(a, &pa))
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostdev address '%.40s' is invalid: use a PCI "
                                            "address in lower-case hex like 0000:3b:00.0 (slot "
                                            "up to 1f, function 0 to 7)",
                                            a ? a : "");
                for (c = 0; c < *n_cards; c++)
                        if (cards[c].addr.domain == pa.domain && cards[c].addr.bus == pa.bus &&
                            cards[c].addr.slot == pa.slot)
                                break;
                if (c == *n_cards) {
                        cards[c] = (card){.addr = pa};
                        for (int f = 0; f < 8; f++)
                                cards[c].fn[f] = -1;
                        (*n_cards)++;
                }
                if (cards[c].fn[pa.function] >= 0)
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostdev %s is given twice: a PCI function can be "
                                            "passed through once",
                                            a);
                cards[c].fn[pa.function] = (int)i;
                cards[c].n_fn++;
        }
        /* A guest finds a slot's functions only through function 0. */
        for (size_t c = 0; c < *n_cards; c++)
                if (cards[c].fn[0] < 0)
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostdev %s is given without function 0 of its card "
                                            "(%.11s0): pass every function of the card",
                                            s->hostdevs[cards[c].fn[cards[c].addr.function]].address,
                                            s->hostdevs[cards[c].fn[cards[c].addr.function]].address);
        return 0;
}

static int passthrough_check(const orch_domain_spec *s, hd_error *err)
{
        card cards[ORCH_HOSTDEVS_MAX];
        size_t n_cards;

        if (cards_of(s, cards, &n_cards, err) < 0)
                return -1;
        if (s->n_hostdevs && strcmp(s->virt_type, "kvm") != 0)
                return hd_error_set(err, HD_E_INVALID,
                                    "GPU passthrough needs KVM; this host runs guests under TCG");
        if (s->numa_pin && (s->numa_node < 0 || s->numa_node > ORCH_NUMA_NODE_MAX))
                return hd_error_set(err, HD_E_INVALID, "numa_node must be between 0 and %d (got %d)",
                                    ORCH_NUMA_NODE_MAX, s->numa_node);
        if (s->numa_pin && s->n_pin_cpus == 0)
                return hd_error_set(err, HD_E_INVALID,
                                    "NUMA placement on node %d needs pin_cpus, that node's host "
                                    "CPUs",
                                    s->numa_node);
        if (!s->numa_pin && s->n_pin_cpus)
                return hd_error_set(err, HD_E_INVALID,
                                    "pin_cpus is given without a NUMA node to place the "
                                    "workspace on");
        if (s->n_pin_cpus > ORCH_HOST_CPU_MAX || (s->n_pin_cpus && !s->pin_cpus))
                return hd_error_set(err, HD_E_INVALID, "pin_cpus holds %zu CPUs; at most %d",
                                    s->n_pin_cpus, ORCH_HOST_CPU_MAX);
        for (size_t i = 0; i < s->n_pin_cpus; i++)
                if (s->pin_cpus[i] >= ORCH_HOST_CPU_MAX)
                        return hd_error_set(err, HD_E_INVALID,
                                            "pin_cpus holds host CPU %u; host CPUs are numbered "
                                            "0 to %d",
                                            s->pin_cpus[i], ORCH_HOST_CPU_MAX - 1);
        /* QEMU refuses guest memory that is not a whole number of pages. */
        if (s->hugepages && s->memory_mib % 2)
                return hd_error_set(err, HD_E_INVALID,
                                    "memory_mib must be a multiple of 2 (the huge page size) "
                                    "with hugepages (got %llu)",
                                    (unsigned long long)s->memory_mib);
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
        return passthrough_check(s, err);
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

static int cmp_unsigned(const void *a, const void *b)
{
        unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

        return (x > y) - (x < y);
}

/* pin_cpus as libvirt's cpuset syntax, sorted, with runs as ranges: "0-15,32-47". */
static char *cpuset_of(const orch_domain_spec *s)
{
        _cleanup_free_ unsigned *c = hd_malloc0(s->n_pin_cpus * sizeof(*c));
        hd_buf out = HD_BUF_INIT;

        memcpy(c, s->pin_cpus, s->n_pin_cpus * sizeof(*c));
        qsort(c, s->n_pin_cpus, sizeof(*c), cmp_unsigned);
        for (size_t i = 0, j; i < s->n_pin_cpus; i = j) {
                for (j = i + 1; j < s->n_pin_cpus && c[j] <= c[j - 1] + 1; j++)
                        ;
                hd_buf_appendf(&out, "%s%u", out.len ? "," : "", c[i]);
                if (c[j - 1] != c[i])
                        hd_buf_appendf(&out, "-%u", c[j - 1]);
        }
        return hd_buf_steal(&out);
}

/* The vCPU count, and with NUMA placement the node's host CPUs as the set
 * every vCPU may run on (<vcpu cpuset>) with memory strictly from the node.
 * A set rather than vCPU i on CPU i: hostd does not hand out host CPUs, so
 * 1:1 pins would stack every workspace on the node's first CPUs while the
 * others idle; within the set the host scheduler balances, and the set
 * also holds QEMU's emulator and I/O threads, which touch guest memory and
 * map it for the GPUs' DMA. */
static void add_vcpu_numa(xmlNodePtr root, const orch_domain_spec *s)
{
        xmlNodePtr n = num(root, "vcpu", s->vcpus);
        char node[16];

        xmlNewProp(n, BAD_CAST "placement", BAD_CAST "static");
        if (!s->numa_pin)
                return;
        _cleanup_free_ char *cpuset = cpuset_of(s);
        xmlNewProp(n, BAD_CAST "cpuset", BAD_CAST cpuset);
        snprintf(node, sizeof(node), "%d", s->numa_node);
        elem_attrs(elem(root, "numatune"), "memory", "mode", "strict", "nodeset", node, NULL);
}

static void add_cpu(xmlNodePtr root, const orch_domain_spec *s)
{
        if (strcmp(s->virt_type, "kvm") == 0) {
                /* The host's CPU as it is: fastest, and hostd does not live-migrate. */
                xmlNodePtr cpu = elem_attrs(root, "cpu", "mode", "host-passthrough", "check",
                                            "none", "migratable", "on", NULL);
                /* GPUs map large 64-bit BARs (128 GiB each on an H100): give
                 * the guest the host's physical address width, so that the
                 * firmware and the guest kernel have room to place them
                 * (QEMU's default 40 bits hold 1 TiB in all). */
                if (s->n_hostdevs)
                        elem_attrs(cpu, "maxphysaddr", "mode", "passthrough", NULL);
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

/* libvirt's spelling: domain='0x0000' bus='0x3b' slot='0x00' function='0x0'. */
static void pci_address(xmlNodePtr parent, const pci_addr *a, bool guest)
{
        xmlNodePtr n = elem(parent, "address");
        char v[4][16];

        snprintf(v[0], sizeof(v[0]), "0x%04x", a->domain);
        snprintf(v[1], sizeof(v[1]), "0x%02x", a->bus);
        snprintf(v[2], sizeof(v[2]), "0x%02x", a->slot);
        snprintf(v[3], sizeof(v[3]), "0x%x", a->function);
        if (guest)
                xmlNewProp(n, BAD_CAST "type", BAD_CAST "pci");
        xmlNewProp(n, BAD_CAST "domain", BAD_CAST v[0]);
        xmlNewProp(n, BAD_CAST "bus", BAD_CAST v[1]);
        xmlNewProp(n, BAD_CAST "slot", BAD_CAST v[2]);
        xmlNewProp(n, BAD_CAST "function", BAD_CAST v[3]);
}

/* Each card on a PCIe root port of its own (q35 has no conventional PCI
 * slots for it, and a port per card is how real hosts are wired), the
 * card's functions kept together as one multifunction device with the host
 * function numbers, so that the guest's drivers see the card whole.  The
 * ports take the controller indexes 1..n, hence the buses 1..n; libvirt
 * places the ports on pcie-root and gives the other devices ports after. */
static void add_hostdevs(xmlNodePtr devices, const orch_domain_spec *s)
{
        card cards[ORCH_HOSTDEVS_MAX];
        size_t n_cards;

        if (cards_of(s, cards, &n_cards, NULL) < 0)
                return; /* not reached: spec_check ran it */
        for (size_t c = 0; c < n_cards; c++) {
                char index[24];

                snprintf(index, sizeof(index), "%zu", c + 1);
                elem_attrs(devices, "controller", "type", "pci", "index", index, "model",
                           "pcie-root-port", NULL);
        }
        for (size_t c = 0; c < n_cards; c++) {
                for (unsigned f = 0; f < 8; f++) {
                        const orch_domain_hostdev *h;
                        pci_addr host = cards[c].addr, guest = {0, (unsigned)c + 1, 0, f};
                        xmlNodePtr hd;

                        if (cards[c].fn[f] < 0)
                                continue;
                        h = &s->hostdevs[cards[c].fn[f]];
                        host.function = f;
                        hd = elem_attrs(devices, "hostdev", "mode", "subsystem", "type", "pci",
                                        "managed", "yes", NULL);
                        elem_attrs(hd, "driver", "name", "vfio", NULL);
                        pci_address(elem(hd, "source"), &host, false);
                        if (h->rom_bar_off)
                                elem_attrs(hd, "rom", "bar", "off", NULL);
                        pci_address(hd, &guest, true);
                        if (f == 0 && cards[c].n_fn > 1)
                                xmlNewProp(hd->last, BAD_CAST "multifunction", BAD_CAST "on");
                }
        }
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
        add_hostdevs(devices, s);

        n = elem_attrs(devices, "serial", "type", "pty", NULL);
        elem_attrs(n, "log", "file", s->console_log_path, "append", "on", NULL);
        elem_attrs(n, "target", "port", "0", NULL);
        n = elem_attrs(devices, "console", "type", "pty", NULL);
        elem_attrs(n, "target", "type", "serial", "port", "0", NULL);

        n = elem_attrs(devices, "channel", "type", "unix", NULL);
        elem_attrs(n, "source", "mode", "bind", "path", s->agent_socket_path, NULL);
        elem_attrs(n, "target", "type", "virtio", "name", ORCH_AGENT_CHANNEL, NULL);

        /* No <graphics> and no <video>: no VNC or SPICE listener exists. */
        /* VFIO pins all guest memory for the GPUs' DMA (and huge pages are
         * never swapped): a balloon could not give any back, so there is none. */
        elem_attrs(devices, "memballoon", "model", s->n_hostdevs || s->hugepages ? "none" : "virtio",
                   NULL);
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
        /* The host's default huge page size (2 MiB, or what ops configured),
         * taken from the NUMA node's pool when the domain is placed. */
        if (s->hugepages)
                elem(elem(root, "memoryBacking"), "hugepages");
        add_vcpu_numa(root, s);

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

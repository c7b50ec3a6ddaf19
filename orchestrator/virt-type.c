/* virt-type.c — decides at run time whether domains are 'kvm' (hardware
 * virtualization) or 'qemu' (TCG emulation).
 *
 * KVM needs both a usable /dev/kvm and a libvirt whose capabilities offer
 * domain type kvm for x86_64.  Some hosts have a /dev/kvm that opens and
 * answers but crashes guests ("KVM internal error", nested virtualization
 * gone wrong), which no cheap probe detects: the setting (config or
 * HOSTD_VIRT_TYPE) overrides the probe. */
#include "orchestrator/orchestrator.h"

#include "common/cleanup.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

HD_DEFINE_CLEANUP(xmlDocPtr, xmlFreeDoc)
HD_DEFINE_CLEANUP(xmlXPathContextPtr, xmlXPathFreeContext)
HD_DEFINE_CLEANUP(xmlXPathObjectPtr, xmlXPathFreeObject)

/* /dev/kvm opens read-write and speaks the stable KVM API (version 12). */
static bool kvm_usable(const char *dev)
{
        _cleanup_close_ int fd = open(dev ? dev : "/dev/kvm", O_RDWR | O_CLOEXEC);

        return fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
}

/* 1 when the capabilities offer <domain type='kvm'/> for hvm x86_64, 0 when
 * not, -1 when caps_xml cannot be read. */
static int caps_offer_kvm(const char *caps_xml)
{
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = NULL;
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = NULL;
        size_t len = strlen(caps_xml);

        if (len > INT_MAX)
                return -1;
        doc = xmlReadMemory(caps_xml, (int)len, "capabilities.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        ctx = doc ? xmlXPathNewContext(doc) : NULL;
        if (!ctx)
                return -1;
        o = xmlXPathEvalExpression(BAD_CAST "/capabilities/guest[os_type='hvm']"
                                            "/arch[@name='x86_64']/domain[@type='kvm']",
                                   ctx);
        if (!o || o->type != XPATH_NODESET)
                return -1;
        return o->nodesetval && o->nodesetval->nodeNr > 0;
}

const char *orch_virt_type_detect(const char *setting, const char *caps_xml,
                                  const char *kvm_dev, hd_error *err)
{
        int offered = caps_xml ? caps_offer_kvm(caps_xml) : -1;

        if (!setting)
                setting = getenv("HOSTD_VIRT_TYPE");
        if (!setting || !*setting)
                setting = "auto";
        if (caps_xml && offered < 0) {
                hd_error_set(err, HD_E_LIBVIRT, "libvirt's capabilities XML cannot be read");
                return NULL;
        }
        if (strcmp(setting, "qemu") == 0)
                return "qemu";
        if (strcmp(setting, "kvm") == 0) {
                if (offered == 0) {
                        hd_error_set(err, HD_E_INVALID,
                                     "virt type kvm is forced but libvirt offers no kvm domain "
                                     "for x86_64 here (is /dev/kvm present and the kvm module "
                                     "loaded?); set it to auto or qemu");
                        return NULL;
                }
                return "kvm";
        }
        if (strcmp(setting, "auto") != 0) {
                hd_error_set(err, HD_E_INVALID,
                             "virt type '%.20s' is invalid: use kvm, qemu or auto", setting);
                return NULL;
        }
        /* Without capabilities (offered == -1) /dev/kvm alone decides. */
        return offered != 0 && kvm_usable(kvm_dev) ? "kvm" : "qemu";
}

/* itest-virt-gpu.c — GPU passthrough domains defined (never started) on a
 * real libvirtd, so that libvirt itself validates the hostdev, root port,
 * NUMA and huge page XML: one H100 pinned to node 0, two H100 on node 1 with
 * huge pages, a whole 8-GPU HGX board, and a workstation card with its audio
 * function.  No GPU exists here: libvirt checks the devices only at start.
 *
 * The domains are type kvm, as hostd makes them.  Where the libvirtd offers
 * no kvm, the same XML is defined as type qemu straight through libvirt
 * (libvirt validates hostdevs at define whatever the type) and the output
 * says so.
 *
 * Environment (the harness sets them):
 *   HOSTD_TEST_LIBVIRT_URI  default qemu:///system
 *   HOSTD_TEST_NETWORK      a libvirt network to attach to (default hostd-test) */
#include "common/common.h"
#include "orchestrator/orchestrator.h"
#include "tests/testlib.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/stat.h>
#include <time.h>

static char tmpdir[] = "/tmp/hostd-itest-virt-gpu-XXXXXX";

typedef struct gpu_case {
        const char *what;
        orch_domain_hostdev hostdevs[8];
        size_t n_hostdevs;
        bool numa_pin;
        int numa_node;
        bool hugepages;
} gpu_case;

static const gpu_case cases[] = {
        {"1 GPU, node 0", {{"0000:18:00.0", false}}, 1, true, 0, false},
        {"2 GPUs, node 1, huge pages", {{"0000:9a:00.0", false}, {"0000:ab:00.0", false}}, 2,
         true, 1, true},
        {"8 GPUs across both nodes",
         {{"0000:18:00.0", false}, {"0000:2a:00.0", false}, {"0000:3a:00.0", false},
          {"0000:5d:00.0", false}, {"0000:9a:00.0", false}, {"0000:ab:00.0", false},
          {"0000:ba:00.0", false}, {"0000:db:00.0", false}},
         8, false, -1, true},
        {"workstation card with its audio function",
         {{"0000:01:00.0", true}, {"0000:01:00.1", false}}, 2, false, -1, false},
};

static size_t count(const char *hay, const char *needle)
{
        size_t n = 0;

        for (const char *p = hay; hay && (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* The definition as libvirt stores it, or NULL. */
static char *dumpxml(virConnectPtr conn, const char *name)
{
        virDomainPtr dom = virDomainLookupByName(conn, name);
        char *xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;

        if (dom)
                virDomainFree(dom);
        return xml;
}

/* No kvm here: hostd's XML, with the domain type alone changed, through
 * libvirt directly. */
static int define_as_qemu(virConnectPtr conn, const orch_domain_spec *spec, hd_error *err)
{
        _cleanup_free_ char *xml = orch_domain_xml(spec, err);
        const char *kvm = "<domain type=\"kvm\">";
        char *p = xml ? strstr(xml, kvm) : NULL;
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;
        virDomainPtr dom;

        if (!p)
                return xml ? hd_error_set(err, HD_E_INTERNAL, "no kvm domain element") : -1;
        hd_buf_append_len(&b, xml, (size_t)(p - xml));
        hd_buf_append(&b, "<domain type=\"qemu\">");
        hd_buf_append(&b, p + strlen(kvm));
        dom = virDomainDefineXML(conn, b.data);
        if (!dom)
                return hd_error_set(err, HD_E_LIBVIRT, "%s", virGetLastErrorMessage());
        virDomainFree(dom);
        return 0;
}

static void check_defined(virConnectPtr conn, const char *name, const gpu_case *c)
{
        _cleanup_free_ char *xml = dumpxml(conn, name);
        _cleanup_free_ char *what = NULL;
        bool sources = true;

        for (size_t i = 0; i < c->n_hostdevs; i++) {
                const char *a = c->hostdevs[i].address;
                _cleanup_free_ char *src = hd_asprintf(
                        "<address domain='0x%.4s' bus='0x%.2s' slot='0x%.2s' function='0x%c'/>", a,
                        a + 5, a + 8, a[11]);
                sources = sources && strstr(xml ? xml : "", src);
        }
        what = hd_asprintf("%s: libvirt keeps every function as a managed VFIO hostdev", c->what);
        CHECK(count(xml, "<hostdev mode='subsystem' type='pci' managed='yes'>") == c->n_hostdevs &&
                      count(xml, "<driver name='vfio'/>") == c->n_hostdevs && sources,
              what);
        free(what);
        what = hd_asprintf("%s: libvirt keeps the large physical address space", c->what);
        CHECK(strstr(xml ? xml : "", "<maxphysaddr mode='passthrough'/>") != NULL, what);
        free(what);
        what = hd_asprintf("%s: libvirt keeps the NUMA placement and huge pages asked for",
                           c->what);
        _cleanup_free_ char *numa = hd_asprintf("<memory mode='strict' nodeset='%d'/>",
                                                c->numa_node);
        CHECK(!!strstr(xml ? xml : "", numa) == c->numa_pin &&
                      !!strstr(xml ? xml : "", "<hugepages/>") == c->hugepages,
              what);
        if (c->n_hostdevs == 2 && strstr(c->hostdevs[1].address, ".1")) {
                free(what);
                what = hd_asprintf("%s: one multifunction device in the guest, ROM BAR off "
                                   "where asked",
                                   c->what);
                CHECK(count(xml, "slot='0x00' function='0x0' multifunction='on'/>") == 1 &&
                              count(xml, "<rom bar='off'/>") == 1,
                      what);
        }
}

static void run_case(orch_virt *v, virConnectPtr conn, bool kvm, orch_domain_spec spec,
                     const gpu_case *c, int n)
{
        static const unsigned cpus[] = {0, 1};
        _cleanup_free_ char *id = hd_asprintf("itest-gpu-%d-%d", (int)getpid(), n);
        _cleanup_free_ char *what = NULL;
        hd_error err = {0};
        orch_dom_state st;
        int r;

        spec.id = id;
        spec.hostdevs = c->hostdevs;
        spec.n_hostdevs = c->n_hostdevs;
        spec.numa_pin = c->numa_pin;
        spec.numa_node = c->numa_node;
        spec.pin_cpus = c->numa_pin ? cpus : NULL;
        spec.n_pin_cpus = c->numa_pin ? HD_ARRAY_SIZE(cpus) : 0;
        spec.hugepages = c->hugepages;

        r = kvm ? orch_virt_define(v, &spec, &err) : define_as_qemu(conn, &spec, &err);
        what = hd_asprintf("%s: libvirt accepts the domain at define", c->what);
        if (!CHECK(r == 0, what))
                printf("#   %s\n", err.message);
        check_defined(conn, id, c);
        r = orch_virt_state(v, id, &st, &err);
        free(what);
        what = hd_asprintf("%s: the domain is defined and shut off, never started", c->what);
        CHECK(r == 0 && st == ORCH_DOM_SHUTOFF, what);

        r = orch_virt_undefine(v, id, &err);
        free(what);
        what = hd_asprintf("%s: the domain is undefined", c->what);
        if (!CHECK(r == 0, what))
                printf("#   %s\n", err.message);
        free(what);
        what = hd_asprintf("%s: an undefined domain is gone", c->what);
        CHECK(orch_virt_state(v, id, &st, &err) == -1 && err.code == HD_E_NOT_FOUND, what);
        orch_virt_undefine(v, id, NULL); /* whatever failed above */
}

static void test_tcg_refused(orch_virt *v, orch_domain_spec spec)
{
        _cleanup_free_ char *id = hd_asprintf("itest-gpu-%d-tcg", (int)getpid());
        hd_error err = {0};
        orch_dom_state st;

        spec.id = id;
        spec.virt_type = "qemu";
        spec.hostdevs = cases[0].hostdevs;
        spec.n_hostdevs = cases[0].n_hostdevs;
        CHECK(orch_virt_define(v, &spec, &err) == -1 && err.code == HD_E_INVALID,
              "a GPU domain under TCG is refused");
        CHECK_CONTAINS(err.message, "GPU passthrough needs KVM", "the refusal says why");
        CHECK(orch_virt_state(v, id, &st, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "nothing is defined after the refusal");
}

int main(void)
{
        const char *uri = getenv("HOSTD_TEST_LIBVIRT_URI");
        const char *network = getenv("HOSTD_TEST_NETWORK");
        const char *mkdisk[] = {"qemu-img", "create", "-q", "-f", "qcow2", NULL, "64M", NULL};
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};
        _cleanup_free_ char *disk = NULL, *sock = NULL, *console = NULL;
        virConnectPtr conn;
        hd_error err = {0};
        orch_virt *v;
        bool kvm;

        if (!network || !*network)
                network = "hostd-test";
        v = orch_virt_open(uri, &err);
        if (!CHECK(v != NULL, "a connection to libvirtd opens")) {
                printf("#   %s\n", err.message);
                return tl_done();
        }
        conn = virConnectOpen(uri && *uri ? uri : "qemu:///system");
        if (!CHECK(conn != NULL, "a second, plain libvirt connection opens (for dumpxml)")) {
                orch_virt_close(v);
                return tl_done();
        }
        kvm = orch_virt_type(v, "kvm", &err) != NULL;
        if (!kvm)
                printf("# libvirt offers no kvm here (%s): the GPU domains are defined as "
                       "type qemu through libvirt directly\n",
                       err.message);
        /* libvirt runs QEMU as another user: the directory must be searchable. */
        if (!CHECK(mkdtemp(tmpdir) && chmod(tmpdir, 0711) == 0, "temp dir"))
                return tl_done();
        disk = hd_path_join(tmpdir, "disk.qcow2");
        sock = hd_path_join(tmpdir, "agent.sock");
        console = hd_path_join(tmpdir, "console.log");
        mkdisk[5] = disk;
        if (CHECK(hd_run(mkdisk, NULL, &err) == 0, "a blank disk is created")) {
                orch_domain_spec spec = {
                        .display_name = "itest GPU passthrough", .owner = "itest",
                        .template_name = "itest-gpu", .image = "blank",
                        .created = (int64_t)time(NULL), .virt_type = "kvm", .vcpus = 2,
                        .memory_mib = 1024, .disk_path = disk, .network = network,
                        .agent_socket_path = sock, .console_log_path = console,
                };
                for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++)
                        run_case(v, conn, kvm, spec, &cases[i], (int)i + 1);
                test_tcg_refused(v, spec);
        } else {
                printf("#   %s\n", err.message);
        }
        virConnectClose(conn);
        orch_virt_close(v);
        hd_run(rm, NULL, NULL);
        return tl_done();
}

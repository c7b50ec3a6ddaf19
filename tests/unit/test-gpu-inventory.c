/* test-gpu-inventory.c — GPU inventory and eligibility against fixture sysfs trees.
 *
 * Each tests/fixtures/gpu/<machine>/ holds a sysfs tree shaped like the real
 * one (made by make-fixtures.sh), the kernel command line in proc/cmdline
 * and expected.txt, the rendered inventory; HOSTD_REGENERATE=1 rewrites the
 * expected files.  Then the facts operators and the allocator rely on are
 * checked one by one, plus model filters and NUMA CPU lists. */
#include "common/common.h"
#include "orchestrator/gpu.h"
#include "tests/fixture.h"

#include <sys/stat.h>

static char *fixtures;

static const char *const machines[] = {
        "hgx-8xh100", "workstation", "shared-nic", "iommu-off", "acs-override", "mixed-numa",
};

/* Inventory of a fixture machine with the fixture pci.ids. */
static int inventory(const char *machine, orch_gpu_list *l, hd_error *err)
{
        _cleanup_free_ char *root = hd_asprintf("%s/%s/sys", fixtures, machine);
        _cleanup_free_ char *cmdline = hd_asprintf("%s/%s/proc/cmdline", fixtures, machine);
        _cleanup_free_ char *ids = hd_path_join(fixtures, "pci.ids");

        return orch_gpu_inventory(root, ids, cmdline, l, err);
}

static void test_expected_files(void)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(machines); i++) {
                _cleanup_free_ char *expected = hd_asprintf("%s/%s/expected.txt", fixtures,
                                                            machines[i]);
                _cleanup_free_ char *what = hd_asprintf("%s: the inventory is as expected",
                                                        machines[i]);
                _cleanup_free_ char *text = NULL;
                orch_gpu_list l;
                hd_error err = {0};

                if (inventory(machines[i], &l, &err) < 0) {
                        tl_report(false, __FILE__, __LINE__, what, err.message);
                        continue;
                }
                text = orch_gpu_list_render(&l);
                tl_fixture_compare(expected, text, what);
                orch_gpu_list_free(&l);
        }
}

static void test_hgx(void)
{
        static const char *const order[] = {
                "0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0",
                "0000:9a:00.0", "0000:ab:00.0", "0000:ba:00.0", "0000:db:00.0",
        };
        orch_gpu_list l;
        bool sorted = true, numa = true, usable = true, own_group = true, one_fn = true;

        if (!CHECK(inventory("hgx-8xh100", &l, NULL) == 0, "hgx: the inventory reads"))
                return;
        CHECK(l.count == 8, "hgx: 8 GPUs, the NVSwitches and the NIC are not GPUs");
        CHECK(l.host_problem == NULL, "hgx: no host problem with the IOMMU on");
        for (size_t i = 0; i < l.count && i < 8; i++) {
                const orch_gpu *g = &l.items[i];
                sorted = sorted && strcmp(g->address, order[i]) == 0;
                numa = numa && g->numa_node == (i < 4 ? 0 : 1);
                usable = usable && g->usable && !g->unusable_reason;
                own_group = own_group && g->iommu_group == 20 + (int)i;
                one_fn = one_fn && g->n_functions == 1 && !strcmp(g->functions[0], g->address);
        }
        CHECK(sorted, "hgx: GPUs come sorted by PCI address");
        CHECK(numa, "hgx: four GPUs on NUMA node 0, four on node 1");
        CHECK(usable, "hgx: a GPU grouped only with its upstream PCI bridge is usable");
        CHECK(own_group, "hgx: each GPU's IOMMU group comes from its iommu_group link");
        CHECK(one_fn, "hgx: an SXM GPU has one function, itself");
        if (l.count == 8) {
                CHECK_STR(l.items[0].model, "GH100 [H100 SXM5 80GB]", "hgx: model from pci.ids");
                CHECK(l.items[0].vendor == 0x10de && l.items[0].device == 0x2330 &&
                              l.items[0].class_code == 0x030200,
                      "hgx: vendor, device and class ids are read");
                CHECK_STR(l.items[0].driver, "nvidia", "hgx: the bound driver is the link's name");
                CHECK(l.items[6].driver == NULL, "hgx: an unbound GPU has no driver");
                CHECK_STR(l.items[7].driver, "vfio-pci", "hgx: a GPU already on vfio-pci says so");
                CHECK_STR(l.items[0].reset_method, "flr bus", "hgx: the reset methods are read");
        }
        orch_gpu_list_free(&l);
}

static void test_workstation(void)
{
        orch_gpu_list l;

        if (!CHECK(inventory("workstation", &l, NULL) == 0, "workstation: the inventory reads"))
                return;
        if (CHECK(l.count == 1, "workstation: the audio function is not a second GPU")) {
                const orch_gpu *g = &l.items[0];
                CHECK(g->n_functions == 2 && !strcmp(g->functions[0], "0000:01:00.0") &&
                              !strcmp(g->functions[1], "0000:01:00.1"),
                      "workstation: the card's functions are the GPU, then its audio");
                CHECK(g->usable, "workstation: the audio function and root port in the group "
                                 "do not make the GPU unusable");
                CHECK(g->numa_node == -1, "workstation: numa_node -1 reads as unknown");
                CHECK_STR(g->reset_method, "bus", "workstation: reset method bus");
        }
        orch_gpu_list_free(&l);
}

static void test_shared_nic(void)
{
        orch_gpu_list l;

        if (!CHECK(inventory("shared-nic", &l, NULL) == 0, "shared-nic: the inventory reads"))
                return;
        if (CHECK(l.count == 2, "shared-nic: two GPUs")) {
                CHECK(l.items[0].usable, "shared-nic: the GPU in its own group stays usable");
                CHECK(!l.items[1].usable, "shared-nic: the GPU grouped with a NIC is refused");
                CHECK_STR(l.items[1].unusable_reason,
                          "shares IOMMU group 14 with 0000:03:00.0 Ethernet controller",
                          "shared-nic: the reason names the group and the device");
        }
        CHECK(l.host_problem == NULL, "shared-nic: one bad group is not a host problem");
        orch_gpu_list_free(&l);
}

static void test_host_problems(void)
{
        orch_gpu_list l;
        bool all = true;

        if (CHECK(inventory("iommu-off", &l, NULL) == 0, "iommu-off: the inventory reads")) {
                CHECK_STR(l.host_problem,
                          "the IOMMU is off: add intel_iommu=on (or amd_iommu=on) iommu=pt to the "
                          "kernel command line",
                          "iommu-off: the host problem says how to turn the IOMMU on");
                for (size_t i = 0; i < l.count; i++)
                        all = all && !l.items[i].usable && l.items[i].iommu_group == -1 &&
                              l.items[i].unusable_reason;
                CHECK(l.count == 2 && all, "iommu-off: every GPU is listed, unusable, no group");
                orch_gpu_list_free(&l);
        }
        if (CHECK(inventory("acs-override", &l, NULL) == 0, "acs-override: the inventory reads")) {
                CHECK_CONTAINS(l.host_problem, "pcie_acs_override=downstream,multifunction",
                               "acs-override: the host problem names the option");
                CHECK_CONTAINS(l.host_problem, "refused",
                               "acs-override: passthrough is refused for the host");
                all = true;
                for (size_t i = 0; i < l.count; i++)
                        all = all && !l.items[i].usable;
                CHECK(l.count == 2 && all, "acs-override: even well grouped GPUs are unusable");
                orch_gpu_list_free(&l);
        }
}

static void test_mixed_numa(void)
{
        orch_gpu_list l;
        size_t l40s = 0, a100 = 0;

        if (!CHECK(inventory("mixed-numa", &l, NULL) == 0, "mixed-numa: the inventory reads"))
                return;
        for (size_t i = 0; i < l.count; i++) {
                if (orch_gpu_model_matches(&l.items[i], "L40S"))
                        l40s += l.items[i].numa_node == 1;
                if (orch_gpu_model_matches(&l.items[i], "a100"))
                        a100 += l.items[i].numa_node == 0;
        }
        CHECK(l.count == 4 && l40s == 2 && a100 == 2,
              "mixed-numa: the A100s are on node 0 and the L40S on node 1, found by model");
        orch_gpu_list_free(&l);
}

static void test_model_matches(void)
{
        char h100_name[] = "GH100 [H100 SXM5 80GB]", h800_name[] = "GH100 [H800]";
        char bare_name[] = "10de:2330";
        orch_gpu h100 = {.vendor = 0x10de, .device = 0x2330, .model = h100_name};
        orch_gpu h800 = {.vendor = 0x10de, .device = 0x2324, .model = h800_name};
        orch_gpu bare = {.vendor = 0x10de, .device = 0x2330, .model = bare_name};

        CHECK(orch_gpu_model_matches(&h100, "H100"), "model filter: H100 matches an H100");
        CHECK(orch_gpu_model_matches(&h100, "h100"), "model filter: case does not matter");
        CHECK(orch_gpu_model_matches(&h100, "10de:2330"), "model filter: vendor:device matches");
        CHECK(orch_gpu_model_matches(&h100, "10DE:2330"), "model filter: ids in capitals match");
        CHECK(!orch_gpu_model_matches(&h100, "A100"), "model filter: A100 does not match an H100");
        CHECK(!orch_gpu_model_matches(&h100, "10de:2331"),
              "model filter: another device id does not match");
        CHECK(!orch_gpu_model_matches(&h800, "H100"),
              "model filter: H100 does not match an H800 although its chip is GH100");
        CHECK(orch_gpu_model_matches(&bare, "10de:2330"),
              "model filter: ids match when pci.ids had no name");
        CHECK(orch_gpu_model_matches(&h100, NULL) && orch_gpu_model_matches(&h100, ""),
              "model filter: no filter matches any GPU");
}

static void test_numa_cpus(const char *tmp)
{
        _cleanup_free_ char *hgx = hd_path_join(fixtures, "hgx-8xh100/sys");
        _cleanup_free_ char *mixed = hd_path_join(fixtures, "mixed-numa/sys");
        _cleanup_free_ unsigned *cpus = NULL;
        size_t n = 0;
        hd_error err = {0};

        if (CHECK(orch_numa_cpus(hgx, 0, &cpus, &n, &err) == 0, "numa: node 0's cpulist reads"))
                CHECK(n == 112 && cpus[0] == 0 && cpus[55] == 55 && cpus[56] == 112 &&
                              cpus[111] == 167,
                      "numa: \"0-55,112-167\" gives CPUs 0..55 and 112..167");
        free(steal_ptr(cpus));
        if (CHECK(orch_numa_cpus(mixed, 1, &cpus, &n, &err) == 0, "numa: node 1's cpulist reads"))
                CHECK(n == 32 && cpus[0] == 16 && cpus[15] == 31 && cpus[16] == 48 &&
                              cpus[31] == 63,
                      "numa: \"16-31,48-63\" gives CPUs 16..31 and 48..63");
        free(steal_ptr(cpus));
        CHECK(orch_numa_cpus(mixed, 2, &cpus, &n, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "numa: a node the host lacks is an error");

        _cleanup_free_ char *dir = hd_asprintf("%s/bad/devices/system/node/node0", tmp);
        _cleanup_free_ char *file = hd_path_join(dir, "cpulist");
        _cleanup_free_ char *root = hd_path_join(tmp, "bad");
        static const char *const bad[] = {"0-", "3-1", "0,,2", "x", "0-99999999"};
        bool refused = true;

        hd_mkdir_p(dir, 0755, NULL);
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
                hd_write_file_atomic(file, bad[i], strlen(bad[i]), 0644, NULL);
                refused = refused && orch_numa_cpus(root, 0, &cpus, &n, NULL) < 0 && !cpus;
        }
        CHECK(refused, "numa: malformed cpulists are refused, not half-read");
        hd_write_file_atomic(file, "7\n", 2, 0644, NULL);
        CHECK(orch_numa_cpus(root, 0, &cpus, &n, NULL) == 0 && n == 1 && cpus[0] == 7,
              "numa: a single CPU reads");
}

/* A one-GPU tree with an empty iommu_groups directory (git cannot store one). */
static void test_empty_groups(const char *tmp)
{
        _cleanup_free_ char *root = hd_path_join(tmp, "empty-groups");
        _cleanup_free_ char *dev = hd_path_join(root, "bus/pci/devices/0000:01:00.0");
        _cleanup_free_ char *groups = hd_path_join(root, "kernel/iommu_groups");
        static const char *const attrs[][2] = {
                {"vendor", "0x10de\n"}, {"device", "0x2684\n"}, {"class", "0x030000\n"}};
        orch_gpu_list l;

        hd_mkdir_p(dev, 0755, NULL);
        hd_mkdir_p(groups, 0755, NULL);
        for (size_t i = 0; i < HD_ARRAY_SIZE(attrs); i++) {
                _cleanup_free_ char *p = hd_path_join(dev, attrs[i][0]);
                hd_write_file_atomic(p, attrs[i][1], strlen(attrs[i][1]), 0644, NULL);
        }
        if (!CHECK(orch_gpu_inventory(root, "/nonexistent/pci.ids", NULL, &l, NULL) == 0,
                   "empty groups: the inventory reads without pci.ids or cmdline"))
                return;
        CHECK_CONTAINS(l.host_problem, "the IOMMU is off",
                       "empty groups: an empty iommu_groups directory means the IOMMU is off");
        CHECK(l.count == 1 && !l.items[0].usable, "empty groups: the GPU is unusable");
        if (l.count == 1)
                CHECK_STR(l.items[0].model, "10de:2684",
                          "without pci.ids the model is vendor:device");
        orch_gpu_list_free(&l);
}

static void test_errors(void)
{
        _cleanup_free_ char *root = hd_path_join(fixtures, "workstation/sys");
        orch_gpu_list l;
        hd_error err = {0};

        CHECK(orch_gpu_inventory("/nonexistent/sys", NULL, NULL, &l, &err) < 0 &&
                      err.code == HD_E_IO && l.count == 0 && !l.items,
              "a sysfs root without PCI devices is an I/O error, with nothing to free");
        CHECK(orch_gpu_inventory(root, NULL, "/nonexistent/cmdline", &l, &err) < 0 &&
                      strstr(err.message, "kernel command line"),
              "an unreadable kernel command line is an error, not a silent pass");
}

int main(void)
{
        char tmp[] = "/tmp/hostd-test-gpu-XXXXXX";

        fixtures = tl_fixtures_dir("gpu");
        if (!fixtures || !mkdtemp(tmp)) {
                CHECK(false, "the gpu fixtures and a temp directory exist");
                return tl_done();
        }
        test_expected_files();
        test_hgx();
        test_workstation();
        test_shared_nic();
        test_host_problems();
        test_mixed_numa();
        test_model_matches();
        test_numa_cpus(tmp);
        test_empty_groups(tmp);
        test_errors();

        const char *const rm[] = {"rm", "-rf", tmp, NULL};
        tl_run_ok(rm);
        free(fixtures);
        return tl_done();
}

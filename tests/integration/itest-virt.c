/* itest-virt.c — a workspace domain's whole life against a real libvirtd:
 * an overlay on the golden image, define, start, the guest kernel booting on
 * the serial console, ACPI shutdown (then destroy), undefine; and a domain
 * on an unknown network refused with nothing left behind.
 *
 * Environment (the harness sets all of them):
 *   HOSTD_TEST_LIBVIRT_URI  default qemu:///system
 *   HOSTD_TEST_GOLDEN       the golden qcow2; without it a blank disk is used
 *                           for the lifecycle and the boot check fails
 *   HOSTD_TEST_NETWORK      a libvirt network to attach to
 *   HOSTD_VIRT_TYPE         kvm, qemu or auto
 *   HOSTD_TEST_SHUTDOWN_WAIT  seconds of ACPI shutdown before destroy (30: under
 *                           TCG the guest is rarely far enough in its boot to
 *                           handle the power button; 180 shows a clean one) */
#include "common/common.h"
#include "orchestrator/orchestrator.h"
#include "tests/testlib.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#define BOOT_WAIT_S 180

static char tmpdir[] = "/tmp/hostd-itest-virt-XXXXXX";

/* Is name among the hostd domains libvirt lists? */
static bool listed(orch_virt *v, const char *name)
{
        orch_domain_info *list = NULL;
        size_t n = 0;
        bool found = false;

        if (orch_virt_list(v, &list, &n, NULL) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                found = found || strcmp(list[i].meta.id, name) == 0;
        orch_domain_info_free(list, n);
        return found;
}

/* Poll the console log until it holds needle or timeout_s passed. */
static bool wait_console(const char *path, const char *needle, unsigned timeout_s,
                         double *waited)
{
        time_t start = time(NULL);

        for (;;) {
                _cleanup_free_ char *log = NULL;

                *waited = difftime(time(NULL), start);
                if (hd_read_file(path, 64u << 20, &log, NULL, NULL) == 0 && strstr(log, needle))
                        return true;
                if (*waited >= timeout_s)
                        return false;
                sleep(2);
        }
}

struct worker {
        orch_virt *v;
        const char *name;
        int failures;
};

/* Lookups, states and lists from one of several threads at once. */
static void *worker_run(void *arg)
{
        struct worker *w = arg;

        for (int i = 0; i < 20; i++) {
                orch_domain_info info = {0};
                orch_dom_state st;
                hd_error err = {0};

                if (orch_virt_lookup(w->v, w->name, &info, &err) < 0 ||
                    orch_virt_state(w->v, w->name, &st, &err) < 0 || !listed(w->v, w->name))
                        w->failures++;
                orch_domain_meta_clear(&info.meta);
        }
        return NULL;
}

static void test_threads(orch_virt *v, const char *name)
{
        struct worker w[4];
        pthread_t t[4];
        bool started[4];
        int failures = 0;

        for (int i = 0; i < 4; i++) {
                w[i] = (struct worker){v, name, 0};
                started[i] = pthread_create(&t[i], NULL, worker_run, &w[i]) == 0;
                if (!started[i])
                        w[i].failures = 1;
        }
        for (int i = 0; i < 4; i++) {
                if (started[i])
                        pthread_join(t[i], NULL);
                failures += w[i].failures;
        }
        CHECK(failures == 0, "one connection serves several threads at once");
}

static int make_disk(const char *golden, const char *disk, hd_error *err)
{
        const char *overlay[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                                 "-b", golden, disk, NULL};
        const char *blank[] = {"qemu-img", "create", "-q", "-f", "qcow2", disk, "64M", NULL};

        return hd_run(golden ? overlay : blank, NULL, err);
}

static void test_unknown_network(orch_virt *v, orch_domain_spec spec)
{
        hd_error err = {0};
        orch_dom_state st;

        spec.id = "itest-virt-nonet";
        spec.network = "hostd-no-such-network";
        CHECK(orch_virt_define(v, &spec, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "a domain on an unknown network is refused");
        CHECK_CONTAINS(err.message, "network 'hostd-no-such-network' does not exist",
                       "the error names the missing network");
        CHECK(orch_virt_state(v, spec.id, &st, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "nothing is left defined after the refusal");
}

static void test_lifecycle(orch_virt *v, const orch_domain_spec *spec, bool booting,
                           unsigned shutdown_wait)
{
        orch_domain_info info = {0};
        hd_error err = {0};
        orch_dom_state st = ORCH_DOM_UNKNOWN;
        struct stat sb;
        bool forced = true;
        double waited = 0;
        int r;

        CHECK(!listed(v, spec->id), "the workspace is not listed before it is defined");
        r = orch_virt_define(v, spec, &err);
        if (!CHECK(r == 0, "the domain is defined"))
                printf("#   %s\n", err.message);
        r = orch_virt_lookup(v, spec->id, &info, &err);
        CHECK(r == 0 && info.state == ORCH_DOM_SHUTOFF &&
                      strcmp(info.meta.display_name, spec->display_name) == 0 &&
                      info.meta.created == spec->created,
              "libvirt gives back hostd's metadata of a defined, shut off domain");
        orch_domain_meta_clear(&info.meta);
        CHECK(listed(v, spec->id), "the defined workspace is listed");
        test_threads(v, spec->id);
        CHECK(orch_virt_define(v, spec, &err) == -1 && err.code == HD_E_CONFLICT,
              "defining the same workspace twice is a conflict");

        r = orch_virt_start(v, spec->id, &err);
        if (!CHECK(r == 0, "the domain starts"))
                printf("#   %s\n", err.message);
        CHECK(orch_virt_state(v, spec->id, &st, &err) == 0 && st == ORCH_DOM_RUNNING,
              "a started domain is running");
        CHECK(orch_virt_start(v, spec->id, &err) == -1 && err.code == HD_E_CONFLICT,
              "starting a running domain is a conflict");
        CHECK(stat(spec->agent_socket_path, &sb) == 0 && S_ISSOCK(sb.st_mode),
              "the agent channel's socket exists on the host");
        CHECK(orch_virt_undefine(v, spec->id, &err) == -1 && err.code == HD_E_CONFLICT,
              "a running domain is not undefined");

        if (booting) {
                bool booted = wait_console(spec->console_log_path, "Linux version", BOOT_WAIT_S,
                                           &waited);
                CHECK(booted, "the guest kernel boots from the overlay (serial console log)");
                printf("# kernel boot line after %.0f s\n", waited);
        }

        time_t t0 = time(NULL);
        r = orch_virt_shutdown(v, spec->id, booting ? shutdown_wait : 3, &forced, &err);
        if (!CHECK(r == 0, "shutdown (ACPI, then destroy) succeeds"))
                printf("#   %s\n", err.message);
        printf("# shutdown took %.0f s, %s\n", difftime(time(NULL), t0),
               forced ? "forced (destroy)" : "graceful (ACPI)");
        CHECK(orch_virt_state(v, spec->id, &st, &err) == 0 && st == ORCH_DOM_SHUTOFF,
              "the domain is shut off after shutdown");
        CHECK(orch_virt_destroy(v, spec->id, &err) == 0, "destroying a shut off domain is fine");

        r = orch_virt_undefine(v, spec->id, &err);
        if (!CHECK(r == 0, "the domain is undefined"))
                printf("#   %s\n", err.message);
        CHECK(orch_virt_state(v, spec->id, &st, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "an undefined domain is gone");
        CHECK(!listed(v, spec->id), "an undefined workspace is no longer listed");
}

int main(void)
{
        const char *uri = getenv("HOSTD_TEST_LIBVIRT_URI");
        const char *golden = getenv("HOSTD_TEST_GOLDEN");
        const char *network = getenv("HOSTD_TEST_NETWORK");
        const char *wait = getenv("HOSTD_TEST_SHUTDOWN_WAIT");
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};
        _cleanup_free_ char *disk = NULL, *sock = NULL, *console = NULL, *id = NULL;
        orch_domain_spec spec;
        hd_error err = {0};
        orch_virt *v;
        const char *vt;

        if (!golden || !*golden) {
                CHECK(false, "HOSTD_TEST_GOLDEN names the golden qcow2 image");
                golden = NULL; /* the lifecycle still runs, on a blank disk */
        }
        if (!CHECK(network && *network, "HOSTD_TEST_NETWORK names a libvirt network"))
                return tl_done();
        v = orch_virt_open(uri, &err);
        if (!CHECK(v != NULL, "a connection to libvirtd opens")) {
                printf("#   %s\n", err.message);
                return tl_done();
        }
        vt = orch_virt_type(v, NULL, &err);
        if (!CHECK(vt != NULL, "the virt type is decided")) {
                printf("#   %s\n", err.message);
                vt = "qemu";
        }
        /* libvirt runs QEMU as another user: the directory must be searchable. */
        if (!CHECK(mkdtemp(tmpdir) && chmod(tmpdir, 0711) == 0, "temp dir"))
                return tl_done();
        disk = hd_path_join(tmpdir, "disk.qcow2");
        sock = hd_path_join(tmpdir, "agent.sock");
        console = hd_path_join(tmpdir, "console.log");
        id = hd_asprintf("itest-virt-%d", (int)getpid());
        if (!CHECK(make_disk(golden, disk, &err) == 0, "an overlay disk is created")) {
                printf("#   %s\n", err.message);
                hd_run(rm, NULL, NULL);
                return tl_done();
        }
        spec = (orch_domain_spec){
                .id = id, .display_name = "itest <virt> & \"lifecycle\"", .owner = "itest",
                .template_name = "itest", .image = golden ? golden : "blank",
                .created = (int64_t)time(NULL), .virt_type = vt, .vcpus = 1,
                .memory_mib = 1024, .disk_path = disk, .network = network,
                .agent_socket_path = sock, .console_log_path = console,
        };
        printf("# virt type %s, disk %s\n", vt, golden ? "overlay on the golden image" : "blank");
        test_lifecycle(v, &spec, golden != NULL, wait ? (unsigned)atoi(wait) : 30);
        test_unknown_network(v, spec);

        /* Leave nothing behind even when a check above failed. */
        orch_virt_destroy(v, id, NULL);
        orch_virt_undefine(v, id, NULL);
        orch_virt_close(v);
        hd_run(rm, NULL, NULL);
        return tl_done();
}

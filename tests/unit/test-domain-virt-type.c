/* test-domain-virt-type.c — choosing kvm or qemu (TCG) from the setting,
 * libvirt's capabilities (fixtures under tests/fixtures/domain/caps/) and
 * whether a KVM device answers. */
#include "common/common.h"
#include "orchestrator/orchestrator.h"
#include "tests/fixture.h"

#include <limits.h>
#include <sys/stat.h>

/* tests/fixtures/domain/caps/<name> */
static char *read_caps(const char *name)
{
        _cleanup_free_ char *dir = tl_fixtures_dir("domain");
        _cleanup_free_ char *path = dir ? hd_asprintf("%s/caps/%s", dir, name) : NULL;
        char *data = NULL;

        return path && hd_read_file(path, 1 << 20, &data, NULL, NULL) == 0 ? data : NULL;
}

static void test_settings(const char *kvm_caps, const char *tcg_caps)
{
        hd_error err = {0};
        const char *t;

        CHECK_STR(orch_virt_type_detect("qemu", kvm_caps, NULL, &err), "qemu",
                  "qemu forced wins over a host that offers kvm");
        CHECK_STR(orch_virt_type_detect("kvm", kvm_caps, "/nonexistent", &err), "kvm",
                  "kvm forced is used when libvirt offers it");
        t = orch_virt_type_detect("kvm", tcg_caps, NULL, &err);
        CHECK(t == NULL && err.code == HD_E_INVALID,
              "kvm forced where libvirt offers no kvm for x86_64 is refused");
        CHECK_CONTAINS(err.message, "set it to auto or qemu", "the error says what to change");
        t = orch_virt_type_detect("xen", kvm_caps, NULL, &err);
        CHECK(t == NULL && err.code == HD_E_INVALID, "an unknown setting is refused");
        CHECK_CONTAINS(err.message, "use kvm, qemu or auto", "the error lists the choices");
        t = orch_virt_type_detect("auto", "<capabilities", NULL, &err);
        CHECK(t == NULL && err.code == HD_E_LIBVIRT, "unreadable capabilities are an error");
}

static void test_auto(const char *kvm_caps, const char *tcg_caps)
{
        hd_error err = {0};

        CHECK_STR(orch_virt_type_detect("auto", kvm_caps, "/nonexistent", &err), "qemu",
                  "auto without a KVM device gives qemu");
        CHECK_STR(orch_virt_type_detect("auto", kvm_caps, "/dev/null", &err), "qemu",
                  "auto with a device that does not speak KVM gives qemu");
        CHECK_STR(orch_virt_type_detect("auto", tcg_caps, "/dev/kvm", &err), "qemu",
                  "auto gives qemu when kvm is offered only for another arch");
        CHECK_STR(orch_virt_type_detect("", tcg_caps, "/dev/kvm", &err), "qemu",
                  "an empty setting means auto");
}

static void test_env(const char *kvm_caps)
{
        hd_error err = {0};

        setenv("HOSTD_VIRT_TYPE", "qemu", 1);
        CHECK_STR(orch_virt_type_detect(NULL, kvm_caps, NULL, &err), "qemu",
                  "HOSTD_VIRT_TYPE applies when the config says nothing");
        CHECK_STR(orch_virt_type_detect("kvm", kvm_caps, NULL, &err), "kvm",
                  "the config's setting wins over HOSTD_VIRT_TYPE");
        setenv("HOSTD_VIRT_TYPE", "bogus", 1);
        CHECK(orch_virt_type_detect(NULL, kvm_caps, NULL, &err) == NULL,
              "a bad HOSTD_VIRT_TYPE is refused, not ignored");
        unsetenv("HOSTD_VIRT_TYPE");
}

int main(void)
{
        _cleanup_free_ char *kvm_caps = read_caps("kvm.xml");
        _cleanup_free_ char *tcg_caps = read_caps("x86_64-tcg-only.xml");

        if (!CHECK(kvm_caps && tcg_caps, "the capabilities fixtures are found"))
                return tl_done();
        test_settings(kvm_caps, tcg_caps);
        test_auto(kvm_caps, tcg_caps);
        test_env(kvm_caps);
        return tl_done();
}

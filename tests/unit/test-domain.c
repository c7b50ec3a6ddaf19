/* test-domain.c — domain XML golden files and hostd metadata round trips.
 *
 * Each tests/fixtures/domain/<case>/spec.json is turned into a spec and
 * rendered; the result must equal <case>/domain.xml (or, for a spec hostd
 * must refuse, the "code: message" in <case>/error.txt), be accepted by
 * libvirt's schema (virt-xml-validate) and give back the exact metadata
 * through orch_domain_meta_parse.  HOSTD_REGENERATE=1 rewrites the expected
 * files instead of comparing. */
#include "common/common.h"
#include "orchestrator/orchestrator.h"
#include "tests/fixture.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <sys/stat.h>

static bool regenerate;
static char tmpdir[] = "/tmp/hostd-test-domain-XXXXXX";

static bool is_regular(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The arrays a spec points to, filled from the JSON. */
typedef struct spec_arrays {
        orch_domain_hostdev hostdevs[32];
        unsigned pin_cpus[512];
} spec_arrays;

/* "hostdevs": [{"address": "0000:3b:00.0", "rom_bar_off": true}, ...],
 * "numa_node": N (absent: no NUMA placement), "pin_cpus": [0, 1, ...],
 * "hugepages": true.  -1 when an array is too long or malformed. */
static int passthrough_from_json(json_t *j, orch_domain_spec *s, spec_arrays *a)
{
        json_t *hostdevs = json_object_get(j, "hostdevs");
        json_t *cpus = json_object_get(j, "pin_cpus");
        json_t *node = json_object_get(j, "numa_node");
        json_t *v;
        size_t i;

        if (json_array_size(hostdevs) > HD_ARRAY_SIZE(a->hostdevs) ||
            json_array_size(cpus) > HD_ARRAY_SIZE(a->pin_cpus))
                return -1;
        json_array_foreach(hostdevs, i, v) {
                a->hostdevs[i].address = json_string_value(json_object_get(v, "address"));
                a->hostdevs[i].rom_bar_off = json_is_true(json_object_get(v, "rom_bar_off"));
        }
        json_array_foreach(cpus, i, v)
                a->pin_cpus[i] = (unsigned)json_integer_value(v);
        s->hostdevs = a->hostdevs;
        s->n_hostdevs = json_array_size(hostdevs);
        s->pin_cpus = a->pin_cpus;
        s->n_pin_cpus = json_array_size(cpus);
        s->numa_pin = node != NULL;
        s->numa_node = (int)json_integer_value(node);
        s->hugepages = json_is_true(json_object_get(j, "hugepages"));
        return 0;
}

/* A spec whose strings point into the JSON document (kept alive by caller).
 * Unknown keys are refused so that a typo in a fixture cannot go unseen. */
static int spec_from_json(json_t *j, orch_domain_spec *s, spec_arrays *a, const char **bad_key)
{
        static const char *const keys[] = {
                "id", "display_name", "owner", "template", "image", "created", "virt_type",
                "vcpus", "memory_mib", "disk_path", "network", "bridge", "mac",
                "agent_socket_path", "console_log_path", "emulator", "instance",
                "hostdevs", "numa_node", "pin_cpus", "hugepages",
        };
        const char *key;
        json_t *value;

        json_object_foreach(j, key, value) {
                bool known = false;
                for (size_t i = 0; i < HD_ARRAY_SIZE(keys); i++)
                        known = known || strcmp(key, keys[i]) == 0;
                if (!known) {
                        *bad_key = key;
                        return -1;
                }
        }
        memset(s, 0, sizeof(*s));
        s->id = json_string_value(json_object_get(j, "id"));
        s->display_name = json_string_value(json_object_get(j, "display_name"));
        s->owner = json_string_value(json_object_get(j, "owner"));
        s->template_name = json_string_value(json_object_get(j, "template"));
        s->instance = json_string_value(json_object_get(j, "instance"));
        s->image = json_string_value(json_object_get(j, "image"));
        s->created = json_integer_value(json_object_get(j, "created"));
        s->virt_type = json_string_value(json_object_get(j, "virt_type"));
        s->vcpus = (unsigned)json_integer_value(json_object_get(j, "vcpus"));
        s->memory_mib = (uint64_t)json_integer_value(json_object_get(j, "memory_mib"));
        s->disk_path = json_string_value(json_object_get(j, "disk_path"));
        s->network = json_string_value(json_object_get(j, "network"));
        s->bridge = json_string_value(json_object_get(j, "bridge"));
        s->mac = json_string_value(json_object_get(j, "mac"));
        s->agent_socket_path = json_string_value(json_object_get(j, "agent_socket_path"));
        s->console_log_path = json_string_value(json_object_get(j, "console_log_path"));
        s->emulator = json_string_value(json_object_get(j, "emulator"));
        return passthrough_from_json(j, s, a);
}

/* Compare got with the file at path, or rewrite it when regenerating. */
static void golden(const char *path, const char *got, const char *what)
{
        _cleanup_free_ char *want = NULL;
        hd_error err = {0};

        if (regenerate) {
                CHECK(hd_write_file_atomic(path, got, strlen(got), 0644, &err) == 0, what);
                return;
        }
        if (hd_read_file(path, 1 << 20, &want, NULL, &err) < 0) {
                CHECK(false, what);
                printf("#   %s\n", err.message);
                return;
        }
        CHECK_STR(got, want, what);
}

static bool same(const char *a, const char *b)
{
        return (!a || !*a) ? (!b || !*b) : (b && strcmp(a, b) == 0);
}

static size_t count(const char *hay, const char *needle)
{
        size_t n = 0;

        for (const char *p = hay; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* What a golden file could get wrong when regenerated without a look. */
static void check_passthrough(const char *name, const orch_domain_spec *s, const char *xml)
{
        _cleanup_free_ char *what = NULL;

        what = hd_asprintf("%s: one managed VFIO hostdev per PCI function given", name);
        CHECK(count(xml, "<hostdev mode=\"subsystem\" type=\"pci\" managed=\"yes\">") ==
                              s->n_hostdevs &&
                      count(xml, "<driver name=\"vfio\"/>") == s->n_hostdevs,
              what);
        free(what);
        what = hd_asprintf("%s: a large physical address space and no balloon with GPUs", name);
        CHECK(!s->n_hostdevs || (strstr(xml, "<maxphysaddr mode=\"passthrough\"/>") &&
                                 strstr(xml, "<memballoon model=\"none\"/>")),
              what);
        free(what);
        what = hd_asprintf("%s: NUMA placement and huge pages only when asked", name);
        CHECK(!!strstr(xml, "<numatune>") == s->numa_pin &&
                      !!strstr(xml, " cpuset=\"") == s->numa_pin &&
                      !!strstr(xml, "<hugepages/>") == s->hugepages,
              what);
}

static void check_valid_and_round_trip(const char *name, const orch_domain_spec *s,
                                       const char *xml)
{
        _cleanup_free_ char *path = hd_asprintf("%s/%s.xml", tmpdir, name);
        _cleanup_free_ char *what = NULL;
        const char *validate[] = {"virt-xml-validate", path, "domain", NULL};
        orch_domain_meta m = {0};
        hd_error err = {0};
        int r;

        what = hd_asprintf("%s: libvirt's schema accepts the XML (virt-xml-validate)", name);
        r = hd_write_file_atomic(path, xml, strlen(xml), 0644, &err);
        if (r == 0)
                r = hd_run(validate, NULL, &err);
        if (!CHECK(r == 0, what))
                printf("#   %s\n", err.message);

        free(what);
        what = hd_asprintf("%s: hostd metadata reads back exactly", name);
        r = orch_domain_meta_parse(xml, &m, &err);
        if (!CHECK(r == 0 && same(m.id, s->id) && same(m.display_name, s->display_name) &&
                           same(m.owner, s->owner) && same(m.template_name, s->template_name) &&
                           same(m.instance, s->instance) &&
                           same(m.image, s->image) && m.created == s->created,
                   what))
                printf("#   %s / name=%s owner=%s template=%s image=%s created=%lld\n",
                       r ? err.message : "", m.display_name, m.owner, m.template_name, m.image,
                       (long long)m.created);
        orch_domain_meta_clear(&m);

        free(what);
        what = hd_asprintf("%s: no graphics listener, no USB, agent channel present", name);
        CHECK(!strstr(xml, "<graphics") && !strstr(xml, "tablet") &&
                      strstr(xml, "<controller type=\"usb\" model=\"none\"/>") &&
                      strstr(xml, "name=\"" ORCH_AGENT_CHANNEL "\""),
              what);
}

static void run_case(const char *dir, const char *name)
{
        _cleanup_free_ char *spec_path = hd_asprintf("%s/%s/spec.json", dir, name);
        _cleanup_free_ char *xml_path = hd_asprintf("%s/%s/domain.xml", dir, name);
        _cleanup_free_ char *err_path = hd_asprintf("%s/%s/error.txt", dir, name);
        _cleanup_free_ char *what = NULL, *xml = NULL, *got_err = NULL;
        json_auto_t *j = NULL;
        const char *bad_key = NULL;
        orch_domain_spec spec;
        spec_arrays arrays;
        json_error_t jerr;
        hd_error err = {0};
        bool want_error;

        if (!is_regular(spec_path))
                return;
        j = json_load_file(spec_path, JSON_REJECT_DUPLICATES, &jerr);
        what = hd_asprintf("%s: spec.json is a JSON object of known keys", name);
        if (!CHECK(j && json_is_object(j) && spec_from_json(j, &spec, &arrays, &bad_key) == 0, what)) {
                printf("#   %s %s\n", j ? "unknown key or too long an array" : jerr.text,
                       bad_key ? bad_key : "");
                return;
        }
        xml = orch_domain_xml(&spec, &err);
        want_error = is_regular(err_path);
        if (regenerate) {
                unlink(xml ? err_path : xml_path);
                want_error = !xml;
        }
        free(what);
        if (want_error) {
                what = hd_asprintf("%s: the spec is refused with the expected error", name);
                got_err = hd_asprintf("%s: %s\n", hd_errcode_name(err.code), err.message);
                CHECK(!xml, what);
                golden(err_path, xml ? "(no error)\n" : got_err, what);
                return;
        }
        what = hd_asprintf("%s: the XML is exactly the expected one", name);
        if (!xml) {
                CHECK(false, what);
                printf("#   %s\n", err.message);
                return;
        }
        golden(xml_path, xml, what);
        check_valid_and_round_trip(name, &spec, xml);
        check_passthrough(name, &spec, xml);
}

static void test_fixtures(void)
{
        _cleanup_free_ char *dir = tl_fixtures_dir("domain");
        struct dirent **names = NULL;
        int n;

        if (!CHECK(dir != NULL, "the domain fixtures are found"))
                return;
        n = scandir(dir, &names, NULL, alphasort);
        CHECK(n > 10, "there are fixture cases");
        for (int i = 0; i < n; i++) {
                if (names[i]->d_name[0] != '.')
                        run_case(dir, names[i]->d_name);
                free(names[i]);
        }
        free(names);
}

static void test_hostile_escaped(void)
{
        orch_domain_spec s = {
                .id = "ws-esc", .display_name = "a]]>b</hostd:name><x y=\"1\">&amp;",
                .owner = "o", .created = 1, .virt_type = "qemu", .vcpus = 1, .memory_mib = 64,
                .disk_path = "/d'\"&<>", .network = "n", .agent_socket_path = "/a",
                .console_log_path = "/c",
        };
        _cleanup_free_ char *xml = orch_domain_xml(&s, NULL);

        CHECK(xml && !strstr(xml, "]]>") && !strstr(xml, "</hostd:name><x") &&
                      strstr(xml, "a]]&gt;b&lt;/hostd:name&gt;&lt;x y=\"1\"&gt;&amp;amp;"),
              "markup in a display name is escaped as text");
        CHECK(xml && strstr(xml, "<source file=\"/d'&quot;&amp;&lt;&gt;\"/>"),
              "quotes and markup in a path are escaped in the attribute");
}

static void test_pin_cpus_ranges(void)
{
        static const unsigned cpus[] = {9, 3, 1, 2, 2, 7, 8, 4095};
        static const orch_domain_hostdev gpu[] = {{.address = "0000:3b:00.0"}};
        orch_domain_spec s = {
                .id = "ws-pin", .display_name = "p", .owner = "o", .created = 1,
                .virt_type = "kvm", .vcpus = 4, .memory_mib = 1024, .disk_path = "/d",
                .network = "n", .agent_socket_path = "/a", .console_log_path = "/c",
                .hostdevs = gpu, .n_hostdevs = 1, .numa_pin = true, .numa_node = 0,
                .pin_cpus = cpus, .n_pin_cpus = HD_ARRAY_SIZE(cpus),
        };
        _cleanup_free_ char *xml = orch_domain_xml(&s, NULL);

        CHECK_CONTAINS(xml, "<vcpu placement=\"static\" cpuset=\"1-3,7-9,4095\">4</vcpu>",
                       "host CPUs given in any order, repeated, are pinned as sorted ranges");
        s.numa_node = 0;
        s.numa_pin = false;
        s.hostdevs = NULL;
        s.n_hostdevs = 0;
        s.n_pin_cpus = 0;
        free(xml);
        xml = orch_domain_xml(&s, NULL);
        CHECK(xml && !strstr(xml, "numatune") && !strstr(xml, "cpuset") &&
                      !strstr(xml, "hostdev") && !strstr(xml, "maxphysaddr"),
              "a zeroed spec (node 0 but numa_pin false) gets no placement and no passthrough");
}

static void test_meta_parse(void)
{
        const char *other_prefix = "<domain><metadata><ws:workspace xmlns:ws='" ORCH_XMLNS "'>"
                                   "<ws:id>abc</ws:id><ws:name>N</ws:name><ws:owner>O</ws:owner>"
                                   "<ws:created>2026-01-01T00:00:00Z</ws:created>"
                                   "</ws:workspace></metadata></domain>";
        const char *no_ns = "<domain><metadata><workspace><id>abc</id><name>N</name>"
                            "<owner>O</owner><created>2026-01-01T00:00:00Z</created>"
                            "</workspace></metadata></domain>";
        const char *other_ns = "<domain><metadata><h:workspace xmlns:h='https://example.com/x'>"
                               "<h:id>abc</h:id></h:workspace></metadata></domain>";
        const char *bad_time = "<domain><metadata><w:workspace xmlns:w='" ORCH_XMLNS "'>"
                               "<w:id>abc</w:id><w:name>N</w:name><w:owner>O</w:owner>"
                               "<w:created>yesterday</w:created></w:workspace></metadata></domain>";
        const char *xxe = "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                          "<domain><metadata><w:workspace xmlns:w='" ORCH_XMLNS "'>"
                          "<w:id>abc</w:id><w:name>&x;</w:name><w:owner>O</w:owner>"
                          "<w:created>2026-01-01T00:00:00Z</w:created></w:workspace>"
                          "</metadata></domain>";
        orch_domain_meta m = {0};
        hd_error err = {0};
        int r;

        r = orch_domain_meta_parse(other_prefix, &m, &err);
        CHECK(r == 0 && strcmp(m.id, "abc") == 0 && m.created == 1767225600 && !m.template_name,
              "metadata is found by its namespace, whatever the prefix");
        orch_domain_meta_clear(&m);
        CHECK(orch_domain_meta_parse(no_ns, &m, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "a <workspace> element without hostd's namespace is not hostd's");
        CHECK(orch_domain_meta_parse(other_ns, &m, &err) == -1 && err.code == HD_E_NOT_FOUND,
              "a domain without hostd's namespace is not a hostd domain");
        CHECK(orch_domain_meta_parse("<domain><name>x", &m, &err) == -1 &&
                      err.code == HD_E_INVALID,
              "broken XML is refused");
        CHECK(orch_domain_meta_parse(bad_time, &m, &err) == -1 && err.code == HD_E_INVALID,
              "a malformed created time is refused");
        CHECK_CONTAINS(err.message, "created", "the error names the bad field");
        r = orch_domain_meta_parse(xxe, &m, &err);
        CHECK(r == -1 || !strstr(m.display_name ? m.display_name : "", "root:"),
              "external entities are never loaded");
        orch_domain_meta_clear(&m);
}

int main(void)
{
        const char *regen = getenv("HOSTD_REGENERATE");
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};

        regenerate = regen && strcmp(regen, "1") == 0;
        if (!CHECK(mkdtemp(tmpdir) != NULL, "temp dir"))
                return tl_done();
        test_fixtures();
        test_hostile_escaped();
        test_pin_cpus_ranges();
        test_meta_parse();
        hd_run(rm, NULL, NULL);
        return tl_done();
}

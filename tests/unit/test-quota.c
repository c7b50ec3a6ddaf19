/* test-quota.c — the pure half of quotas (orchestrator/quota.h): which
 * limit applies to a user (its own, else the largest of its groups', else
 * none), the refusal messages word for word, a lowered limit that never
 * stops what asks nothing more, host capacity with overcommit and reserve,
 * and the checks of names, GPU models and limit sets. */
#include "common/common.h"
#include "orchestrator/quota.h"
#include "tests/testlib.h"

#define L(kind, value) {ORCH_QUOTA_##kind, NULL, value}
#define G(model, value) {ORCH_QUOTA_GPUS, (char *)model, value}

static orch_quota_limit alice_l[] = {L(VCPUS, 8), G("H100", 3)};
static orch_quota_limit ml_l[] = {L(WORKSPACES, 3), L(VCPUS, 16), L(MEMORY, 65536), G("h100", 4), G("any", 5)};
static orch_quota_limit research_l[] = {L(VCPUS, 12), L(MEMORY, 131072), L(DISK, 500)};
static orch_quota_limit big_l[] = {L(MEMORY, 131072), G("A100", 1)};
static orch_quota_limit bob_l[] = {L(DISK, 100)};

#define SET(scope, name, l) {ORCH_QUOTA_##scope, (char *)name, l, HD_ARRAY_SIZE(l), 0}
static const orch_quota_set sets[] = {
        SET(USER, "alice", alice_l),      SET(USER, "bob", bob_l),       SET(GROUP, "big", big_l),
        SET(GROUP, "ml", ml_l),           SET(GROUP, "research", research_l),
};

static const orch_quota_entry *entry(const orch_quota_report *r, orch_quota_kind kind, const char *model)
{
        for (size_t i = 0; i < r->count; i++)
                if (r->items[i].kind == kind &&
                    (kind != ORCH_QUOTA_GPUS || strcasecmp(r->items[i].gpu_model, model) == 0))
                        return &r->items[i];
        return NULL;
}

/* "8 user alice", "- -" when unlimited. */
static char *limit_text(const orch_quota_report *r, orch_quota_kind kind, const char *model)
{
        const orch_quota_entry *e = entry(r, kind, model);

        if (!e)
                return hd_strdup("absent");
        if (!e->limited)
                return hd_strdup("unlimited");
        return hd_asprintf("%llu %s %s", (unsigned long long)e->limit, orch_quota_scope_name(e->source),
                           e->source_name);
}

static void test_resolve(void)
{
        static const struct {
                const char *user;
                const char *groups[3];
                orch_quota_kind kind;
                const char *model;
                const char *want;
                const char *what;
        } cases[] = {
                {"alice", {"ml"}, ORCH_QUOTA_VCPUS, NULL, "8 user alice",
                 "a limit set on the user wins over its group's, even a larger one"},
                {"alice", {"ml"}, ORCH_QUOTA_GPUS, "H100", "3 user alice", "per GPU model too"},
                {"alice", {"ml"}, ORCH_QUOTA_MEMORY, NULL, "65536 group ml",
                 "a resource the user has no limit for takes its group's"},
                {"alice", {"ml"}, ORCH_QUOTA_DISK, NULL, "unlimited", "no limit anywhere: unlimited"},
                {"carol", {"ml", "research"}, ORCH_QUOTA_VCPUS, NULL, "16 group ml",
                 "the largest of the groups' limits applies"},
                {"carol", {"research", "ml"}, ORCH_QUOTA_MEMORY, NULL, "131072 group research",
                 "the limits of a group the user is not in (big) give nothing"},
                {"carol", {"big", "research"}, ORCH_QUOTA_MEMORY, NULL, "131072 group big",
                 "equal group limits: the group first by name is named"},
                {"carol", {"ml", "research"}, ORCH_QUOTA_DISK, NULL, "500 group research",
                 "a group without that limit does not lift another group's"},
                {"bob", {"research"}, ORCH_QUOTA_DISK, NULL, "100 user bob", "the user's smaller limit wins"},
                {"carol", {"ml"}, ORCH_QUOTA_GPUS, "any", "5 group ml", "a limit on any GPU model"},
                {"dave", {"other"}, ORCH_QUOTA_VCPUS, NULL, "unlimited", "sets of other groups are ignored"},
                {"ml", {NULL}, ORCH_QUOTA_VCPUS, NULL, "unlimited", "a user named like a group gets nothing from it"},
        };

        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                size_t n = 0;
                orch_quota_report r;
                _cleanup_free_ char *got = NULL;

                while (n < 3 && cases[i].groups[n])
                        n++;
                orch_quota_resolve(cases[i].user, cases[i].groups, n, sets, HD_ARRAY_SIZE(sets), &r);
                got = limit_text(&r, cases[i].kind, cases[i].model);
                CHECK_STR(got, cases[i].want, cases[i].what);
                orch_quota_report_free(&r);
        }
}

static void test_report_shape(void)
{
        const char *groups[] = {"ml", "big"};
        orch_quota_report r;
        bool order;

        orch_quota_resolve("alice", groups, 2, sets, HD_ARRAY_SIZE(sets), &r);
        order = r.count == 7 && r.items[0].kind == ORCH_QUOTA_WORKSPACES && r.items[1].kind == ORCH_QUOTA_VCPUS &&
                r.items[2].kind == ORCH_QUOTA_MEMORY && r.items[3].kind == ORCH_QUOTA_DISK &&
                strcmp(r.items[4].gpu_model, "any") == 0 && strcmp(r.items[5].gpu_model, "A100") == 0 &&
                strcasecmp(r.items[6].gpu_model, "H100") == 0;
        CHECK(order, "a report lists workspaces, vcpus, memory, disk, any GPU, then each GPU model by name");
        CHECK(entry(&r, ORCH_QUOTA_GPUS, "h100") == &r.items[6] && r.items[6].source == ORCH_QUOTA_USER,
              "GPU models match without case: H100 on the user and h100 on a group are one resource");
        orch_quota_report_free(&r);
}

/* The refusal for one entry with used/requested/limit (or "admitted"). */
static char *refusal(orch_quota_kind kind, const char *model, uint64_t used, uint64_t requested, uint64_t limit,
                     orch_quota_scope scope, const char *source, hd_errcode *code)
{
        orch_quota_entry e = {.kind = kind, .gpu_model = (char *)model, .limited = true, .limit = limit,
                              .source = scope, .source_name = (char *)source, .used = used,
                              .requested = requested};
        orch_quota_report r = {&e, 1};
        hd_error err = {0};

        if (orch_quota_check(&r, &err) == 0)
                return hd_strdup("admitted");
        *code = err.code;
        return hd_strdup(err.message);
}

static void test_messages(void)
{
        static const struct {
                orch_quota_kind kind;
                const char *model;
                uint64_t used, requested, limit;
                orch_quota_scope scope;
                const char *source, *want, *what;
        } cases[] = {
                {ORCH_QUOTA_GPUS, "H100", 2, 2, 3, ORCH_QUOTA_GROUP, "ml",
                 "GPU quota for H100: 2 in use + 2 requested > 3 (limit of group ml); stop or delete a workspace, "
                 "or ask for a higher limit",
                 "a GPU refusal names the model, the use, the request, the limit and the group it came from"},
                {ORCH_QUOTA_VCPUS, NULL, 6, 4, 8, ORCH_QUOTA_USER, "alice",
                 "vCPU quota: 6 in use + 4 requested > 8 (limit of user alice); stop or delete a workspace, or ask "
                 "for a higher limit",
                 "a vCPU refusal names the user the limit is set on"},
                {ORCH_QUOTA_MEMORY, NULL, 6144, 4096, 8192, ORCH_QUOTA_GROUP, "ml",
                 "memory quota: 6G in use + 4G requested > 8G (limit of group ml); stop or delete a workspace, or "
                 "ask for a higher limit",
                 "memory is written with its unit"},
                {ORCH_QUOTA_MEMORY, NULL, 1536, 512, 1800, ORCH_QUOTA_GROUP, "ml",
                 "memory quota: 1536M in use + 512M requested > 1800M (limit of group ml); stop or delete a "
                 "workspace, or ask for a higher limit",
                 "memory that is no whole GiB in MiB"},
                {ORCH_QUOTA_DISK, NULL, 900, 200, 1024, ORCH_QUOTA_GROUP, "research",
                 "disk quota: 900G in use + 200G requested > 1T (limit of group research); delete a workspace, or "
                 "ask for a higher limit",
                 "disk: stopping frees none, so only deleting is suggested"},
                {ORCH_QUOTA_WORKSPACES, NULL, 3, 1, 3, ORCH_QUOTA_USER, "bob",
                 "workspace quota: 3 in use + 1 requested > 3 (limit of user bob); delete a workspace, or ask for "
                 "a higher limit",
                 "the workspace count"},
                {ORCH_QUOTA_GPUS, "any", 5, 1, 5, ORCH_QUOTA_GROUP, "ml",
                 "GPU quota (any model): 5 in use + 1 requested > 5 (limit of group ml); stop or delete a "
                 "workspace, or ask for a higher limit",
                 "a limit on any GPU model"},
                {ORCH_QUOTA_GPUS, "A100", 0, 1, 0, ORCH_QUOTA_GROUP, "ml",
                 "GPU quota for A100: 0 in use + 1 requested > 0 (limit of group ml); stop or delete a workspace, "
                 "or ask for a higher limit",
                 "a limit of 0 forbids the resource"},
                {ORCH_QUOTA_VCPUS, NULL, 4, 4, 8, ORCH_QUOTA_USER, "alice", "admitted",
                 "exactly at the limit is admitted"},
                {ORCH_QUOTA_VCPUS, NULL, 12, 0, 8, ORCH_QUOTA_USER, "alice", "admitted",
                 "over a lowered limit but asking none of it more: admitted (a start asks no disk)"},
        };

        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                hd_errcode code = HD_OK;
                _cleanup_free_ char *got = refusal(cases[i].kind, cases[i].model, cases[i].used, cases[i].requested,
                                                   cases[i].limit, cases[i].scope, cases[i].source, &code);

                CHECK_STR(got, cases[i].want, cases[i].what);
                if (strcmp(cases[i].want, "admitted") != 0)
                        CHECK(code == HD_E_FORBIDDEN, "a quota refusal is HD_E_FORBIDDEN (403)");
        }
}

static void test_first_refusal(void)
{
        const char *groups[] = {"ml"};
        orch_quota_report r;
        hd_error err = {0};

        orch_quota_resolve("alice", groups, 1, sets, HD_ARRAY_SIZE(sets), &r);
        for (size_t i = 0; i < r.count; i++)
                r.items[i].requested = 100;
        r.items[4].requested = 0; /* any GPU: within (no limit matters) */
        CHECK(orch_quota_check(&r, &err) < 0 && strncmp(err.message, "workspace quota: 0 in use + 100", 31) == 0,
              "with several limits over, the first in report order is named");
        orch_quota_report_free(&r);
}

static void test_host(void)
{
        orch_host_capacity c = {.cpus = 8, .vcpu_overcommit = 4, .memory_mib = 24576, .reserved_mib = 1024,
                                .memory_overcommit = 1.5};
        orch_host_capacity none = {0};
        hd_error err = {0};

        CHECK(orch_host_vcpu_limit(&c) == 32 && orch_host_memory_limit(&c) == 35328,
              "capacity: CPUs x vcpu_overcommit, (memory - reserved) x memory_overcommit");
        CHECK(orch_host_check(&c, 28, 4, 0, 1024, &err) == 0, "a request that fits exactly is admitted");
        CHECK(orch_host_check(&c, 30, 4, 0, 1024, &err) < 0 && err.code == HD_E_NO_RESOURCES,
              "over the vCPU capacity: HD_E_NO_RESOURCES (503)");
        CHECK_STR(err.message,
                  "host vCPU capacity: 30 in use + 4 requested > 32 (8 CPUs x vcpu_overcommit 4); try fewer vCPUs or "
                  "later",
                  "the message names the shortfall and where the capacity comes from");
        CHECK(orch_host_check(&c, 0, 1, 32768, 4096, &err) < 0, "over the memory capacity");
        CHECK_STR(err.message,
                  "host memory capacity: 32G in use + 4G requested > 35328M ((24G - reserved_memory 1G) x "
                  "memory_overcommit 1.5); try less memory or later",
                  "memory's message too");
        c.vcpu_overcommit = 0.5;
        CHECK(orch_host_vcpu_limit(&c) == 4, "an overcommit below 1 is a share of the CPUs");
        c.reserved_mib = 30000;
        CHECK(orch_host_memory_limit(&c) == 0, "a reserve above the host's memory leaves none, not a wrap-around");
        CHECK(orch_host_check(&none, 1u << 30, 1024, 1ull << 40, 1ull << 30, NULL) == 0,
              "capacity not known (0 CPUs, 0 memory): not checked");
}

static void test_checks(void)
{
        orch_quota_limit twice[] = {L(VCPUS, 1), G("H100", 1), G("h100", 2)};
        orch_quota_limit dup[] = {L(VCPUS, 1), L(VCPUS, 2)};
        orch_quota_limit bad_model[] = {G("H100;rm", 1)};
        orch_quota_limit big[] = {L(MEMORY, 1ull << 41)};
        orch_quota_limit sorted[] = {G("b", 1), L(DISK, 2), G("A", 3), L(WORKSPACES, 4)};
        hd_error err = {0};

        CHECK(orch_quota_limits_check(twice, 3, &err) < 0 && strstr(err.message, "'h100' is given twice") != NULL,
              "a GPU model given twice (whatever its case) is refused");
        CHECK(orch_quota_limits_check(dup, 2, &err) < 0 && strcmp(err.message, "vcpus is given twice") == 0,
              "a kind given twice is refused");
        CHECK(orch_quota_limits_check(bad_model, 1, &err) < 0 && err.code == HD_E_INVALID,
              "a GPU model with odd characters is refused");
        CHECK(orch_quota_limits_check(big, 1, &err) < 0 && strstr(err.message, "memory_mib") != NULL,
              "a limit beyond 1 EiB is refused, naming it");
        CHECK(orch_quota_limits_check(NULL, 0, &err) < 0 && strstr(err.message, "delete the quota") != NULL,
              "an empty set is refused, saying how to remove them all");
        CHECK(orch_quota_limits_check(sorted, 4, NULL) == 0 && sorted[0].kind == ORCH_QUOTA_WORKSPACES &&
                      sorted[1].kind == ORCH_QUOTA_DISK && strcmp(sorted[2].gpu_model, "A") == 0 &&
                      strcmp(sorted[3].gpu_model, "b") == 0,
              "limits are sorted: kinds in order, GPU models by name");
        CHECK(orch_quota_name_check("user", "alice.smith@corp", NULL) == 0 &&
                      orch_quota_name_check("group", "ML_team-2", NULL) == 0,
              "user and group names with . _ - @ are accepted");
        CHECK(orch_quota_name_check("user", "../x", &err) < 0 && orch_quota_name_check("user", "", NULL) < 0 &&
                      orch_quota_name_check("group", "a b", NULL) < 0 &&
                      orch_quota_name_check("group", "-x", NULL) < 0,
              "names with '/', spaces, nothing or a leading '-' are refused");
        CHECK(orch_quota_model_check("A100 80GB", NULL) == 0 && orch_quota_model_check("10de:2330", NULL) == 0 &&
                      orch_quota_model_check(" H100", NULL) < 0,
              "GPU models: names with spaces inside, vendor:device ids; no space at an end");
}

int main(void)
{
        test_resolve();
        test_report_shape();
        test_messages();
        test_first_refusal();
        test_host();
        test_checks();
        return tl_done();
}

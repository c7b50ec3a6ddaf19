/* template-service.c — templates as the service offers them: push a
 * template's JSON as a new immutable version (validated, every error
 * returned), load a template directory at start, diff two versions, and
 * turn a create request that names a template into the workspace's size,
 * image and GPUs (the template's newest version, refused to a user outside
 * the groups it names, with the user's overrides checked against the
 * template's ranges). */
#include "orchestrator/service-internal.h"
#include "orchestrator/template.h"
#include "common/buf.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

HD_DEFINE_CLEANUP(orch_template *, orch_template_free)
HD_DEFINE_CLEANUP(orch_template_version *, orch_template_version_free)

/* Store a valid template t as a version (its canonical JSON and hash). */
static int push_parsed(orch_service *svc, const orch_template *t, const char *pushed_by,
                       orch_template_version **out, bool *created, hd_error *err)
{
        _cleanup_free_ char *canon = orch_template_canonical_json(t);
        char hash[65];
        orch_template_version v = {.name = t->name, .hash = hash, .canonical_json = canon,
                                   .pushed_by = (char *)pushed_by};

        orch_template_hash(t, hash);
        if (orch_store_template_push(svc->store, &v, created, err) < 0)
                return -1;
        if (out && !(*out = orch_store_template_get(svc->store, t->name, hash, err)))
                return -1;
        return 0;
}

int orch_template_push(orch_service *svc, const char *json, size_t len, const char *pushed_by,
                       orch_template_version **out, bool *created, orch_template_errors *errs,
                       hd_error *err)
{
        _cleanup_(orch_template_freep) orch_template *t = NULL;

        if (out)
                *out = NULL;
        if (orch_template_parse(json, len, &t, errs) < 0) {
                size_t n = errs->n + errs->dropped - (errs->dropped ? 1 : 0);

                return hd_error_set(err, HD_E_INVALID, "%zu error%s", n, n == 1 ? "" : "s");
        }
        return push_parsed(svc, t, pushed_by, out, created, err);
}

int orch_template_load(orch_service *svc, const char *dir, size_t *n_pushed,
                       orch_template_errors *errs, hd_error *err)
{
        orch_template_set set = {0};
        struct stat sb;
        bool created;
        int r = 0;

        *n_pushed = 0;
        orch_template_errors_clear(errs);
        if (stat(dir, &sb) < 0 && errno == ENOENT)
                return 0;
        if (orch_template_load_dir(dir, &set, errs) < 0)
                return hd_error_set(err, HD_E_INVALID, "templates in %s: none loaded", dir);
        /* A file's content already stored is left alone: a restart must not
         * make an older version current again over one pushed since. */
        for (size_t i = 0; i < set.n && r == 0; i++) {
                orch_template_version *have;
                char hash[65];

                orch_template_hash(set.v[i], hash);
                have = orch_store_template_get(svc->store, set.v[i]->name, hash, NULL);
                if (have) {
                        orch_template_version_free(have);
                        continue;
                }
                r = push_parsed(svc, set.v[i], "templates_dir", NULL, &created, err);
                *n_pushed += r == 0 && created;
        }
        orch_template_set_clear(&set);
        return r;
}

/* Parse a stored version back into a template. */
static orch_template *parse_version(const orch_template_version *v, hd_error *err)
{
        orch_template_errors errs = {0};
        orch_template *t = NULL;

        if (orch_template_parse(v->canonical_json, strlen(v->canonical_json), &t, &errs) < 0) {
                _cleanup_free_ char *why = orch_template_errors_format(&errs);

                hd_error_set(err, HD_E_INTERNAL, "template %s version %s no longer parses: %s",
                             v->name, v->hash, why);
        }
        orch_template_errors_clear(&errs);
        return t;
}

orch_template *orch_template_version_parse(orch_service *svc, const char *name, const char *hash,
                                           hd_error *err)
{
        _cleanup_(orch_template_version_freep) orch_template_version *v =
                orch_store_template_get(svc->store, name, hash, err);

        return v ? parse_version(v, err) : NULL;
}

int orch_template_diff_versions(orch_service *svc, const char *name, const char *from,
                                const char *to, char **from_out, char **to_out, char **text,
                                hd_error *err)
{
        orch_template_version_list l = {0};
        _cleanup_(orch_template_freep) orch_template *a = NULL;
        _cleanup_(orch_template_freep) orch_template *b = NULL;
        int r = -1;

        if (orch_store_template_versions(svc->store, name, &l, err) < 0)
                return -1;
        /* Defaults: the current version against the one before it. */
        if (!to)
                to = l.items[0].hash;
        if (!from && l.count < 2) {
                hd_error_set(err, HD_E_INVALID, "template %s has one version: nothing to diff", name);
                goto out;
        }
        if (!from)
                from = l.items[1].hash;
        a = orch_template_version_parse(svc, name, from, err);
        b = a ? orch_template_version_parse(svc, name, to, err) : NULL;
        if (!b)
                goto out;
        *text = orch_template_diff(a, b);
        *from_out = hd_strdup(from);
        *to_out = hd_strdup(to);
        r = 0;
out:
        orch_template_version_list_free(&l);
        return r;
}

void orch_template_choice_clear(orch_template_choice *c)
{
        free(c->image);
        free(c->gpu_model);
        free(c->hash);
        free(c->network);
        memset(c, 0, sizeof(*c));
}

/* A template that names groups is for their members (and admins) only. */
static int template_groups_check(const orch_template *t, const orch_create_req *r, hd_error *err)
{
        _cleanup_buf_ hd_buf allowed = HD_BUF_INIT;

        if (r->bypass_template_groups || orch_template_usable_by(t, r->owner_groups, r->n_owner_groups))
                return 0;
        for (size_t i = 0; i < t->n_groups; i++)
                hd_buf_appendf(&allowed, "%s%s", i ? ", " : "", t->groups[i]);
        return hd_error_set(err, HD_E_FORBIDDEN,
                            "template '%s' may only be used by members of group%s %s, and %s is in none of them",
                            t->name, t->n_groups == 1 ? "" : "s", allowed.data, r->owner ? r->owner : "the owner");
}

int orch_template_resolve_create(orch_service *svc, orch_create_req *r, orch_template_choice *c,
                                 hd_error *err)
{
        _cleanup_(orch_template_version_freep) orch_template_version *v = NULL;
        _cleanup_(orch_template_freep) orch_template *t = NULL;
        orch_template_overrides o = {
                .has_vcpus = r->vcpus != 0, .vcpus = r->vcpus,
                .has_memory = r->memory_mib != 0, .memory = r->memory_mib * MiB,
                .has_disk = r->disk_gib != 0, .disk = r->disk_gib * GiB,
                .has_gpus = r->gpus_given, .gpus = r->gpus,
        };
        orch_template_resolved res;

        if (r->image || r->gpu_model || r->gpu_numa)
                return hd_error_set(err, HD_E_INVALID,
                                    "image, gpu_model and gpu_numa come from template '%.64s'; "
                                    "leave them out",
                                    r->template_name);
        v = orch_store_template_get(svc->store, r->template_name, NULL, err);
        if (!v)
                return -1;
        t = parse_version(v, err);
        if (!t)
                return -1;
        /* A lifetime the template lets users choose is checked against its
         * range; otherwise a requested lifetime is capped by max_lifetime. */
        o.has_lifetime = r->lifetime_s != 0 && t->params.lifetime.set;
        o.lifetime = r->lifetime_s;
        if (template_groups_check(t, r, err) < 0 || orch_template_apply(t, &o, &res, err) < 0)
                return -1;
        r->vcpus = res.vcpus;
        r->memory_mib = res.memory / MiB;
        r->disk_gib = res.disk / GiB;
        r->gpus = res.gpus;
        /* r points into c, which the caller keeps until the row is made. */
        c->image = steal_ptr(t->image);
        c->gpu_model = steal_ptr(t->gpu_model);
        c->hash = steal_ptr(v->hash);
        c->idle_timeout_s = (unsigned)t->idle_timeout;
        c->max_lifetime_s = (unsigned)t->max_lifetime;
        c->lifetime_delete = t->lifetime_action == ORCH_TEMPLATE_LIFETIME_DELETE;
        c->startup_script = t->startup_script != NULL;
        c->startup_timeout_s = (unsigned)t->startup_timeout;
        c->network = steal_ptr(t->network);
        r->image = c->image;
        r->gpu_model = c->gpu_model;
        r->gpu_numa = t->gpu_numa == ORCH_TEMPLATE_NUMA_REQUIRED ? "required" : NULL;
        return 0;
}

int orch_template_guest_for(orch_service *svc, const orch_workspace *ws, orch_template_guest *out,
                            hd_error *err)
{
        _cleanup_(orch_template_freep) orch_template *t = NULL;
        json_error_t jerr;

        *out = (orch_template_guest){0};
        if (!ws->template_name || !ws->template_version) {
                out->cloud_config = json_object();
                return 0;
        }
        t = orch_template_version_parse(svc, ws->template_name, ws->template_version, err);
        if (!t)
                return -1;
        out->cloud_config = t->cloud_config ? json_loads(t->cloud_config, JSON_REJECT_DUPLICATES, &jerr)
                                            : json_object();
        if (!out->cloud_config)
                return hd_error_set(err, HD_E_INTERNAL, "template %s: its cloud_config does not load: %s",
                                    t->name, jerr.text);
        out->startup_script = steal_ptr(t->startup_script);
        out->startup_timeout_s = (unsigned)t->startup_timeout;
        out->network = steal_ptr(t->network);
        out->bridge = steal_ptr(t->bridge);
        return 0;
}

void orch_template_guest_clear(orch_template_guest *g)
{
        json_decref(g->cloud_config);
        free(g->startup_script);
        free(g->network);
        free(g->bridge);
        *g = (orch_template_guest){0};
}

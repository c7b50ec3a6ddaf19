/* template-canon.c — a template's canonical JSON and its content hash.
 *
 * The canonical form is what a version IS: compact, keys sorted at every
 * level, sizes in bytes, durations in seconds, groups sorted, and a field
 * left out when it holds its default, so that only a change of meaning
 * gives a new hash.  It is itself a valid template (integers are accepted
 * as bytes and seconds), which the tests use: parsing it gives it back. */
#include "orchestrator/service-internal.h"
#include "orchestrator/template-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(json_t *o, const char *key, json_t *v)
{
        if (!v || json_object_set_new(o, key, v) < 0)
                abort(); /* out of memory */
}

static void put_range(json_t *params, const char *key, const orch_template_range *r,
                      bool with_min)
{
        json_t *o;

        if (!r->set)
                return;
        o = json_object();
        put(params, key, o);
        if (with_min)
                put(o, "min", json_integer((json_int_t)r->min));
        put(o, "max", json_integer((json_int_t)r->max));
}

json_t *orch_tpl_canonical_tree(const orch_template *t)
{
        json_t *o = json_object(), *params = json_object();

        if (!o || !params)
                abort();
        put(o, "name", json_string(t->name));
        if (t->description)
                put(o, "description", json_string(t->description));
        put(o, "image", json_string(t->image));
        put(o, "vcpus", json_integer(t->vcpus));
        put(o, "memory", json_integer((json_int_t)t->memory));
        put(o, "disk", json_integer((json_int_t)t->disk));
        if (t->gpu_count || t->gpu_model || t->gpu_numa != ORCH_TEMPLATE_NUMA_PREFERRED) {
                json_t *g = json_object();
                put(o, "gpus", g);
                put(g, "count", json_integer(t->gpu_count));
                if (t->gpu_model)
                        put(g, "model", json_string(t->gpu_model));
                put(g, "numa", json_string(t->gpu_numa == ORCH_TEMPLATE_NUMA_REQUIRED ? "required"
                                                                                     : "preferred"));
        }
        if (t->network)
                put(o, "network", json_string(t->network));
        if (t->bridge)
                put(o, "bridge", json_string(t->bridge));
        if (t->cloud_config)
                put(o, "cloud_config", json_loads(t->cloud_config, 0, NULL));
        if (t->startup_script)
                put(o, "startup_script", json_string(t->startup_script));
        if (t->startup_timeout)
                put(o, "startup_timeout", json_integer((json_int_t)t->startup_timeout));
        if (t->idle_timeout)
                put(o, "idle_timeout", json_integer((json_int_t)t->idle_timeout));
        if (t->max_lifetime)
                put(o, "max_lifetime", json_integer((json_int_t)t->max_lifetime));
        if (t->lifetime_action == ORCH_TEMPLATE_LIFETIME_DELETE)
                put(o, "lifetime_action", json_string("delete"));
        if (t->n_groups) {
                json_t *a = json_array();
                put(o, "groups", a);
                for (size_t i = 0; i < t->n_groups; i++)
                        if (json_array_append_new(a, json_string(t->groups[i])) < 0)
                                abort();
        }
        put_range(params, "vcpus", &t->params.vcpus, true);
        put_range(params, "memory", &t->params.memory, true);
        put_range(params, "disk", &t->params.disk, true);
        put_range(params, "gpus", &t->params.gpus, true);
        put_range(params, "lifetime", &t->params.lifetime, false);
        if (json_object_size(params))
                put(o, "parameters", params);
        else
                json_decref(params);
        return o;
}

char *orch_template_canonical_json(const orch_template *t)
{
        _cleanup_(json_decrefp) json_t *tree = orch_tpl_canonical_tree(t);
        char *s = json_dumps(tree, JSON_COMPACT | JSON_SORT_KEYS);

        if (!s)
                abort();
        return s;
}

void orch_template_hash(const orch_template *t, char out[65])
{
        _cleanup_free_ char *canon = orch_template_canonical_json(t);

        orch_sha256_hex(canon, out);
}

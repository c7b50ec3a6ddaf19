/* template-apply.c — what one workspace gets from a template: the template's
 * values, each replaced by a user's override only where the template allows
 * that parameter and within its range; and who may use a template. */
#include "orchestrator/template-internal.h"

#include "common/buf.h"

#include <string.h>

/* Check one override; a refusal is appended to why ("; "-separated). */
static void check(hd_buf *why, const char *name, bool has, uint64_t v, const orch_template_range *r,
                  orch_tpl_unit u, uint64_t step, const char *step_name, uint64_t *dst)
{
        char val[ORCH_TPL_VALUE_MAX], lim[ORCH_TPL_VALUE_MAX];
        const char *sep = why->len ? "; " : "";

        if (!has)
                return;
        orch_tpl_format(u, v, val);
        if (!r->set) {
                hd_buf_appendf(why, "%s%s cannot be changed: the template does not allow it", sep,
                               name);
        } else if (v < r->min) {
                orch_tpl_format(u, r->min, lim);
                hd_buf_appendf(why, "%s%s %s is below the template's minimum %s", sep, name, val, lim);
        } else if (v > r->max) {
                orch_tpl_format(u, r->max, lim);
                hd_buf_appendf(why, "%s%s %s is above the template's maximum %s", sep, name, val, lim);
        } else if (step && v % step) {
                hd_buf_appendf(why, "%s%s %s is not a whole number of %s", sep, name, val, step_name);
        } else {
                *dst = v;
        }
}

int orch_template_apply(const orch_template *t, const orch_template_overrides *o,
                        orch_template_resolved *out, hd_error *err)
{
        static const orch_template_overrides none;
        _cleanup_buf_ hd_buf why = HD_BUF_INIT;
        uint64_t vcpus = t->vcpus, gpus = t->gpu_count;
        orch_template_resolved r = {
                .memory = t->memory,
                .disk = t->disk,
                .lifetime = t->max_lifetime,
                .lifetime_action = t->lifetime_action,
        };

        if (!o)
                o = &none;
        check(&why, "vcpus", o->has_vcpus, o->vcpus, &t->params.vcpus, ORCH_TPL_COUNT, 0, NULL,
              &vcpus);
        check(&why, "memory", o->has_memory, o->memory, &t->params.memory, ORCH_TPL_SIZE, 1u << 20,
              "MiB", &r.memory);
        check(&why, "disk", o->has_disk, o->disk, &t->params.disk, ORCH_TPL_SIZE, 1u << 30, "GiB",
              &r.disk);
        check(&why, "gpus", o->has_gpus, o->gpus, &t->params.gpus, ORCH_TPL_COUNT, 0, NULL, &gpus);
        check(&why, "lifetime", o->has_lifetime, o->lifetime, &t->params.lifetime,
              ORCH_TPL_DURATION, 0, NULL, &r.lifetime);
        if (why.len)
                return hd_error_set(err, HD_E_INVALID, "template %s: %s", t->name, why.data);
        r.vcpus = (unsigned)vcpus;
        r.gpus = (unsigned)gpus;
        *out = r;
        return 0;
}

bool orch_template_usable_by(const orch_template *t, const char *const *groups, size_t n)
{
        if (t->n_groups == 0)
                return true;
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < t->n_groups; j++)
                        if (groups[i] && strcmp(groups[i], t->groups[j]) == 0)
                                return true;
        return false;
}

/* quotas.c — the /v1/quotas handlers: the caller's own limits with where
 * each comes from and its use (me), every limit set (list), and setting or
 * removing the limits of a user or a group (docs/quotas.md). */
#include "api/internal.h"
#include "orchestrator/service.h"

#include <string.h>

#define LIMIT_MAX (1ll << 40)

static json_t *source_json(const orch_quota_entry *e)
{
        if (!e->limited)
                return json_null();
        return json_pack("{s:s,s:s}", "scope", orch_quota_scope_name(e->source), "name", e->source_name);
}

void api_quota_me(api_request *req)
{
        const char *groups[API_MAX_GROUPS];
        size_t n = api_effective_groups(req, groups);
        const char *user = api_effective_user(req);
        orch_quota_report r;
        hd_error err = {0};
        json_t *arr, *names = json_array();

        for (size_t i = 0; i < n; i++)
                json_array_append_new(names, json_string(groups[i]));
        if (orch_store_quota_report(api_store(req), user, groups, n, &r, &err) < 0) {
                json_decref(names);
                api_reply_error(req, &err);
                return;
        }
        arr = json_array();
        for (size_t i = 0; i < r.count; i++) {
                const orch_quota_entry *e = &r.items[i];
                json_t *o = json_pack("{s:s,s:I,s:o,s:o}", "resource", orch_quota_kind_name(e->kind), "used",
                                      (json_int_t)e->used, "limit",
                                      e->limited ? json_integer((json_int_t)e->limit) : json_null(), "source",
                                      source_json(e));

                if (e->kind == ORCH_QUOTA_GPUS)
                        json_object_set_new(o, "model", json_string(e->gpu_model));
                json_array_append_new(arr, o);
        }
        orch_quota_report_free(&r);
        api_reply_json(req, 200, json_pack("{s:s,s:o,s:o}", "user", user, "groups", names, "quotas", arr));
}

/* {"scope","name","limits":{"vcpus":8,"gpus":{"H100":3}},"updated_at"} */
static json_t *set_json(const orch_quota_set *s)
{
        json_t *limits = json_object(), *gpus = json_object();

        for (size_t i = 0; i < s->n_limits; i++) {
                const orch_quota_limit *l = &s->limits[i];

                if (l->kind == ORCH_QUOTA_GPUS)
                        json_object_set_new(gpus, l->gpu_model, json_integer((json_int_t)l->value));
                else
                        json_object_set_new(limits, orch_quota_kind_name(l->kind), json_integer((json_int_t)l->value));
        }
        if (json_object_size(gpus))
                json_object_set_new(limits, "gpus", gpus);
        else
                json_decref(gpus);
        return json_pack("{s:s,s:s,s:o,s:o}", "scope", orch_quota_scope_name(s->scope), "name", s->name, "limits",
                         limits, "updated_at", api_json_time(s->updated_at));
}

void api_quota_list(api_request *req)
{
        orch_quota_set_list l;
        hd_error err = {0};
        json_t *arr;

        if (orch_store_quota_list(api_store(req), &l, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        arr = json_array();
        for (size_t i = 0; i < l.count; i++)
                json_array_append_new(arr, set_json(&l.items[i]));
        orch_quota_set_list_free(&l);
        api_reply_json(req, 200, json_pack("{s:o}", "quotas", arr));
}

/* The body's limits into l (at most ORCH_QUOTA_LIMITS_MAX + 1, so that too
 * many is still refused by the store); models point into body. */
static size_t body_limits(json_t *body, orch_quota_limit *l, hd_error *err)
{
        static const orch_quota_kind kinds[] = {ORCH_QUOTA_WORKSPACES, ORCH_QUOTA_VCPUS, ORCH_QUOTA_MEMORY,
                                                ORCH_QUOTA_DISK};
        const char *model;
        json_t *v;
        size_t n = 0;

        for (size_t i = 0; i < HD_ARRAY_SIZE(kinds); i++)
                if ((v = json_object_get(body, orch_quota_kind_name(kinds[i]))))
                        l[n++] = (orch_quota_limit){.kind = kinds[i], .value = (uint64_t)json_integer_value(v)};
        json_object_foreach(json_object_get(body, "gpus"), model, v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > LIMIT_MAX) {
                        hd_error_set(err, HD_E_INVALID, "field 'gpus.%.64s' must be a whole number of GPUs", model);
                        return (size_t)-1;
                }
                if (n > ORCH_QUOTA_LIMITS_MAX)
                        break;
                l[n++] = (orch_quota_limit){.kind = ORCH_QUOTA_GPUS, .gpu_model = (char *)model,
                                            .value = (uint64_t)json_integer_value(v)};
        }
        return n;
}

static void put_quota(api_request *req, orch_quota_scope scope)
{
        static const api_field fields[] = {
                {"workspaces", F_INT, false, 0, LIMIT_MAX}, {"vcpus", F_INT, false, 0, LIMIT_MAX},
                {"memory_mib", F_INT, false, 0, LIMIT_MAX}, {"disk_gib", F_INT, false, 0, LIMIT_MAX},
                {"gpus", F_OBJECT, false, 0, 0},
        };
        orch_store *st = api_store(req);
        orch_quota_limit limits[ORCH_QUOTA_LIMITS_MAX + 1];
        _cleanup_json_ json_t *body = NULL;
        orch_quota_set set;
        hd_error err = {0};
        size_t n;

        body = api_parse_body(req, fields, HD_ARRAY_SIZE(fields), &err);
        if (!body || (n = body_limits(body, limits, &err)) == (size_t)-1 ||
            orch_store_quota_set(st, scope, req->params[0], limits, n, &err) < 0 ||
            orch_store_quota_get(st, scope, req->params[0], &set, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        api_reply_json(req, 200, set_json(&set));
        orch_quota_set_clear(&set);
}

static void delete_quota(api_request *req, orch_quota_scope scope)
{
        hd_error err = {0};

        if (orch_store_quota_delete(api_store(req), scope, req->params[0], &err) < 0)
                api_reply_error(req, &err);
        else
                api_reply_json(req, 204, NULL);
}

void api_quota_put_user(api_request *req)
{
        put_quota(req, ORCH_QUOTA_USER);
}

void api_quota_put_group(api_request *req)
{
        put_quota(req, ORCH_QUOTA_GROUP);
}

void api_quota_delete_user(api_request *req)
{
        delete_quota(req, ORCH_QUOTA_USER);
}

void api_quota_delete_group(api_request *req)
{
        delete_quota(req, ORCH_QUOTA_GROUP);
}

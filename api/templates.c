/* templates.c — the /v1/templates handlers: push a template (the body is the
 * template itself; a bad one answers 400 with every error), list the current
 * versions, show one with its versions, diff two versions, delete. */
#include "api/internal.h"
#include "orchestrator/service.h"

#include <string.h>

static json_t *version_json(const orch_template_version *v, bool with_template)
{
        json_t *o = json_pack("{s:s,s:s,s:o,s:s?}", "name", v->name, "version", v->hash, "pushed_at",
                              api_json_time(v->pushed_at), "pushed_by", v->pushed_by);

        if (with_template)
                json_object_set_new(o, "template", json_loads(v->canonical_json, 0, NULL));
        return o;
}

/* 400 {"error":{"code":"invalid","message":"3 errors","details":[{path,reason}…]}} */
static void reply_template_errors(api_request *req, const hd_error *err, const orch_template_errors *errs)
{
        json_t *details = json_array();

        for (size_t i = 0; i < errs->n; i++)
                json_array_append_new(details, json_pack("{s:s,s:s}", "path", errs->v[i].path, "reason",
                                                         errs->v[i].reason));
        api_reply_json(req, 400,
                       json_pack("{s:{s:s,s:s,s:o}}", "error", "code", hd_errcode_name(err->code), "message",
                                 err->message, "details", details));
}

void api_push_template(api_request *req)
{
        orch_template_errors errs = {0};
        orch_template_version *v = NULL;
        hd_error err = {0};
        bool created = false;

        if (req->body_too_large) {
                api_reply_errorf(req, HD_E_TOO_LARGE, "request body is larger than %zu bytes", req->max_body);
                return;
        }
        if (orch_template_push(api_service(req), req->body.data ? req->body.data : "", req->body.len,
                               req->caller.user, &v, &created, &errs, &err) < 0) {
                if (errs.n)
                        reply_template_errors(req, &err, &errs);
                else
                        api_reply_error(req, &err);
        } else {
                json_t *o = version_json(v, true);

                json_object_set_new(o, "created", json_boolean(created));
                api_reply_json(req, created ? 201 : 200, o);
        }
        orch_template_errors_clear(&errs);
        orch_template_version_free(v);
}

void api_list_templates(api_request *req)
{
        orch_template_version_list l = {0};
        hd_error err = {0};
        json_t *arr;

        if (orch_store_template_list(api_store(req), &l, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        arr = json_array();
        for (size_t i = 0; i < l.count; i++)
                json_array_append_new(arr, version_json(&l.items[i], true));
        orch_template_version_list_free(&l);
        api_reply_json(req, 200, json_pack("{s:o}", "templates", arr));
}

void api_get_template(api_request *req)
{
        orch_template_version_list l = {0};
        hd_error err = {0};
        json_t *o, *versions;

        if (orch_store_template_versions(api_store(req), req->params[0], &l, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        o = version_json(&l.items[0], true);
        versions = json_array();
        for (size_t i = 0; i < l.count; i++)
                json_array_append_new(versions, version_json(&l.items[i], false));
        json_object_set_new(o, "versions", versions);
        orch_template_version_list_free(&l);
        api_reply_json(req, 200, o);
}

void api_diff_template(api_request *req)
{
        _cleanup_free_ char *from = NULL, *to = NULL, *text = NULL;
        hd_error err = {0};

        if (orch_template_diff_versions(api_service(req), req->params[0], api_query(req, "from"),
                                        api_query(req, "to"), &from, &to, &text, &err) < 0) {
                api_reply_error(req, &err);
                return;
        }
        api_reply_json(req, 200, json_pack("{s:s,s:s,s:s,s:s}", "name", req->params[0], "from", from, "to", to,
                                           "diff", text));
}

void api_delete_template(api_request *req)
{
        hd_error err = {0};

        if (orch_store_template_delete(api_store(req), req->params[0], &err) < 0)
                api_reply_error(req, &err);
        else
                api_reply_json(req, 204, NULL);
}

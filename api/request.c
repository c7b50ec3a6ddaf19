/* request.c — strict parsing of JSON request bodies against a field list. */
#include "api/internal.h"

#include <string.h>

static const char *type_name(api_field_type t)
{
        switch (t) {
        case F_STRING:
                return "a string";
        case F_INT:
                return "an integer";
        case F_BOOL:
                return "true or false";
        case F_STRING_ARRAY:
                return "an array of strings";
        case F_OBJECT:
                return "an object";
        }
        return "?";
}

static int check_string(const api_field *f, const char *s, size_t len, hd_error *err)
{
        if (strlen(s) != len)
                return hd_error_set(err, HD_E_INVALID, "field '%s' must not contain NUL bytes", f->name);
        if ((long long)len < f->min || (long long)len > f->max)
                return hd_error_set(err, HD_E_INVALID, "field '%s' must be %lld to %lld characters long",
                                    f->name, f->min, f->max);
        return 0;
}

static int check_field(const api_field *f, json_t *v, hd_error *err)
{
        switch (f->type) {
        case F_STRING:
                if (!json_is_string(v))
                        break;
                return check_string(f, json_string_value(v), json_string_length(v), err);
        case F_INT:
                if (!json_is_integer(v))
                        break;
                if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
                        return hd_error_set(err, HD_E_INVALID, "field '%s' must be between %lld and %lld",
                                            f->name, f->min, f->max);
                return 0;
        case F_BOOL:
                if (!json_is_boolean(v))
                        break;
                return 0;
        case F_STRING_ARRAY: {
                size_t i;
                json_t *item;

                if (!json_is_array(v))
                        break;
                if ((long long)json_array_size(v) < f->min || (long long)json_array_size(v) > f->max)
                        return hd_error_set(err, HD_E_INVALID, "field '%s' must hold %lld to %lld items",
                                            f->name, f->min, f->max);
                json_array_foreach(v, i, item) {
                        if (!json_is_string(item))
                                return hd_error_set(err, HD_E_INVALID, "field '%s' item %zu must be a string",
                                                    f->name, i);
                        if (strlen(json_string_value(item)) != json_string_length(item) ||
                            json_string_length(item) > 16384)
                                return hd_error_set(err, HD_E_INVALID,
                                                    "field '%s' item %zu is not a usable string", f->name, i);
                }
                return 0;
        }
        case F_OBJECT:
                if (!json_is_object(v))
                        break;
                return 0;
        }
        return hd_error_set(err, HD_E_INVALID, "field '%s' must be %s", f->name, type_name(f->type));
}

json_t *api_parse_body(const api_request *req, const api_field *fields, size_t n, hd_error *err)
{
        _cleanup_json_ json_t *root = NULL;
        json_error_t jerr;
        const char *key;
        json_t *v;

        if (req->body_too_large) {
                hd_error_set(err, HD_E_TOO_LARGE, "request body is larger than %zu bytes", req->max_body);
                return NULL;
        }
        if (req->body.len == 0) {
                hd_error_set(err, HD_E_INVALID, "request body is empty: send a JSON object");
                return NULL;
        }
        root = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                hd_error_set(err, HD_E_INVALID, "request body is not valid JSON: %s (line %d, column %d)",
                             jerr.text, jerr.line, jerr.column);
                return NULL;
        }
        if (!json_is_object(root)) {
                hd_error_set(err, HD_E_INVALID, "request body must be a JSON object");
                return NULL;
        }
        json_object_foreach(root, key, v) {
                const api_field *f = NULL;
                for (size_t i = 0; i < n && !f; i++)
                        if (strcmp(fields[i].name, key) == 0)
                                f = &fields[i];
                if (!f) {
                        hd_error_set(err, HD_E_INVALID, "unknown field '%.64s'", key);
                        return NULL;
                }
                if (check_field(f, v, err) < 0)
                        return NULL;
        }
        for (size_t i = 0; i < n; i++)
                if (fields[i].required && !json_object_get(root, fields[i].name)) {
                        hd_error_set(err, HD_E_INVALID, "missing field '%s'", fields[i].name);
                        return NULL;
                }
        return steal_ptr(root);
}

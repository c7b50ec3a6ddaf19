/* merge.c — merging a template's cloud-config into hostd's, and checking that
 * a JSON document reads back as the same data through cloud-init's YAML
 * parser (PyYAML, YAML 1.1).
 *
 * Merge rules (also in cloudinit.h): objects merge key by key, recursively;
 * arrays are appended, hostd's entries first; other values from the template
 * replace hostd's; a value of another type than hostd's is refused. Before
 * merging, the keys hostd owns are checked: ssh_pwauth and disable_root may
 * only repeat hostd's value, and no users entry (nor the legacy "user" key)
 * may name the workspace user.
 *
 * Strings need no check here: render.c escapes the characters that YAML
 * would read differently from JSON. */
#include "cloudinit/internal.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <string.h>

static const char *const owned_scalars[] = {"ssh_pwauth", "disable_root"};

/* Append one key to a path for messages: .name, or ["…"] JSON-escaped. */
static void path_push(hd_buf *path, const char *key)
{
        bool plain = *key && strlen(key) <= 64;

        for (const char *c = key; plain && *c; c++)
                plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                        (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
        if (plain) {
                hd_buf_appendf(path, ".%s", key);
        } else {
                json_t *s = json_string(key);
                _cleanup_free_ char *q =
                        s ? json_dumps(s, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
                json_decref(s);
                hd_buf_appendf(path, "[%.70s]", q ? q : "?");
        }
}

static void path_pop(hd_buf *path, size_t len)
{
        path->len = len;
        if (path->data)
                path->data[len] = '\0';
}

static const char *type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

static bool same_kind(const json_t *a, const json_t *b)
{
        return strcmp(type_name(a), type_name(b)) == 0;
}

/* Does a users entry (a name string or an object with "name") name user? */
static bool names_user(const json_t *entry, const char *user)
{
        if (json_is_object(entry))
                entry = json_object_get(entry, "name");
        return json_is_string(entry) && strcmp(json_string_value(entry), user) == 0;
}

static int check_owned_keys(const json_t *base, const json_t *tmpl, const char *username,
                            hd_error *err)
{
        const json_t *users = json_object_get(tmpl, "users");
        const json_t *legacy = json_object_get(tmpl, "user");
        size_t i;
        const json_t *entry;

        for (i = 0; i < HD_ARRAY_SIZE(owned_scalars); i++) {
                const json_t *v = json_object_get(tmpl, owned_scalars[i]);
                if (v && !json_equal(v, json_object_get(base, owned_scalars[i])))
                        return hd_error_set(err, HD_E_INVALID,
                                            "extra_cloud_config sets \"%s\", which hostd owns; "
                                            "remove it from the template",
                                            owned_scalars[i]);
        }
        json_array_foreach (users, i, entry)
                if (names_user(entry, username))
                        return hd_error_set(err, HD_E_INVALID,
                                            "extra_cloud_config.users[%zu] is the workspace user "
                                            "\"%s\", whom hostd creates; remove that entry",
                                            i, username);
        if (legacy && names_user(legacy, username))
                return hd_error_set(err, HD_E_INVALID,
                                    "extra_cloud_config.user is the workspace user \"%s\", whom "
                                    "hostd creates; remove the \"user\" key",
                                    username);
        return 0;
}

static int merge_object(json_t *dst, const json_t *src, hd_buf *path, hd_error *err)
{
        const char *key;
        json_t *sv;

        json_object_foreach ((json_t *)src, key, sv) {
                json_t *dv = json_object_get(dst, key);
                size_t mark = path->len;

                path_push(path, key);
                if (!dv) {
                        json_object_set_new(dst, key, json_deep_copy(sv));
                } else if (!same_kind(dv, sv)) {
                        return hd_error_set(err, HD_E_INVALID,
                                            "%s is %s in the template but %s in hostd's "
                                            "cloud-config; give it the same type",
                                            path->data, type_name(sv), type_name(dv));
                } else if (json_is_object(dv)) {
                        if (merge_object(dv, sv, path, err) < 0)
                                return -1;
                } else if (json_is_array(dv)) {
                        size_t i;
                        json_t *e;
                        json_array_foreach (sv, i, e)
                                json_array_append_new(dv, json_deep_copy(e));
                } else {
                        json_object_set_new(dst, key, json_deep_copy(sv));
                }
                path_pop(path, mark);
        }
        return 0;
}

int ci_merge_cloud_config(json_t *base, const json_t *tmpl, const char *username,
                          hd_error *err)
{
        _cleanup_buf_ hd_buf path = HD_BUF_INIT;

        if (!json_is_object(tmpl))
                return hd_error_set(err, HD_E_INVALID,
                                    "extra_cloud_config is %s; it must be a JSON object",
                                    type_name(tmpl));
        if (check_owned_keys(base, tmpl, username, err) < 0)
                return -1;
        hd_buf_append(&path, "extra_cloud_config");
        return merge_object(base, tmpl, &path, err);
}

/* ---- YAML round-trip safety ------------------------------------------------------ */

#define KEY_MAX 256 /* PyYAML cannot read keys over 1024 characters: stay well under */

static int yaml_safe(const json_t *v, hd_buf *path, const char *what, hd_error *err)
{
        const char *key;
        json_t *child;
        size_t i, mark = path->len;

        switch (json_typeof(v)) {
        case JSON_OBJECT:
                json_object_foreach ((json_t *)v, key, child) {
                        if (strlen(key) > KEY_MAX)
                                return hd_error_set(err, HD_E_INVALID,
                                                    "%s%s: a key is %zu bytes long; the limit "
                                                    "is %d",
                                                    what, path->data ? path->data : "",
                                                    strlen(key), KEY_MAX);
                        path_push(path, key);
                        if (yaml_safe(child, path, what, err) < 0)
                                return -1;
                        path_pop(path, mark);
                }
                return 0;
        case JSON_ARRAY:
                json_array_foreach ((json_t *)v, i, child) {
                        hd_buf_appendf(path, "[%zu]", i);
                        if (yaml_safe(child, path, what, err) < 0)
                                return -1;
                        path_pop(path, mark);
                }
                return 0;
        case JSON_REAL: {
                _cleanup_free_ char *text = json_dumps(v, JSON_ENCODE_ANY);
                const char *e = text ? strpbrk(text, "eE") : NULL;
                if (text && (!strchr(text, '.') || (e && e[1] != '+' && e[1] != '-')))
                        return hd_error_set(err, HD_E_INVALID,
                                            "%s%s: the number %s would be read as a string by "
                                            "cloud-init's YAML parser; write it as a string",
                                            what, path->data ? path->data : "", text);
                return 0;
        }
        default:
                return 0;
        }
}

int ci_yaml_safe(const json_t *v, const char *what, hd_error *err)
{
        _cleanup_buf_ hd_buf path = HD_BUF_INIT;

        return yaml_safe(v, &path, what, err);
}

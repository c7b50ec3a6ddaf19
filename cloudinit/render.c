/* render.c — a ci_request becomes NoCloud meta-data, user-data and
 * network-config, all of them JSON (valid YAML), built with jansson so every
 * string is escaped data and never YAML syntax. */
#include "cloudinit/internal.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <string.h>

#define WORKSPACE_SUDO "ALL=(ALL) NOPASSWD:ALL"
#define WORKSPACE_SHELL "/bin/bash"

/* The length of a character at p that YAML reads differently from JSON
 * when it appears raw in a double-quoted string (PyYAML refuses DEL, C1
 * controls, U+FFFE and U+FFFF in its input, folds U+0085, U+2028 and U+2029
 * as line breaks, and may drop U+FEFF), with its code point in *cp; else 0.
 * p is valid UTF-8 from jansson. */
static size_t yaml_unsafe_char(const unsigned char *p, unsigned *cp)
{
        if (p[0] == 0x7f) {
                *cp = 0x7f;
                return 1;
        }
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
                *cp = p[1];
                return 2;
        }
        if ((p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) ||
            (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) ||
            (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))) {
                *cp = (unsigned)(p[0] & 0x0f) << 12 | (unsigned)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
                return 3;
        }
        return 0;
}

/* Deterministic text: sorted keys, 2-space indent, final newline, raw UTF-8
 * except the characters above, which become \u escapes. They can only occur
 * inside JSON strings (the rest of the text is ASCII), where the escape means
 * the same character to both JSON and YAML. */
static char *dump(const json_t *doc, const char *header, hd_error *err)
{
        _cleanup_free_ char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2));
        _cleanup_buf_ hd_buf out = HD_BUF_INIT;
        const unsigned char *p;

        if (!text) {
                hd_error_set(err, HD_E_INTERNAL, "cannot serialize cloud-init data as JSON");
                return NULL;
        }
        hd_buf_append(&out, header);
        for (p = (const unsigned char *)text; *p;) {
                unsigned cp;
                size_t n = yaml_unsafe_char(p, &cp);
                if (n) {
                        hd_buf_appendf(&out, "\\u%04x", cp);
                        p += n;
                } else {
                        hd_buf_append_len(&out, (const char *)p++, 1);
                }
        }
        hd_buf_append(&out, "\n");
        return hd_buf_steal(&out);
}

static int check_request(const ci_request *req, hd_error *err)
{
        const json_t *version;

        if (ci_ident_valid("instance_id", req->instance_id, err) < 0 ||
            ci_hostname_valid(req->hostname, err) < 0 || ci_username_valid(req->username, err) < 0)
                return -1;
        if (req->n_ssh_keys == 0 || !req->ssh_keys)
                return hd_error_set(err, HD_E_INVALID,
                                    "no SSH key given; the workspace user has no password, so at "
                                    "least one SSH public key is needed");
        if (req->n_ssh_keys > CI_MAX_SSH_KEYS)
                return hd_error_set(err, HD_E_INVALID, "%zu SSH keys given; the limit is %d",
                                    req->n_ssh_keys, CI_MAX_SSH_KEYS);
        for (size_t i = 0; i < req->n_ssh_keys; i++)
                if (ci_ssh_key_valid(req->ssh_keys[i], err) < 0)
                        return hd_error_prefix(err, "ssh_keys[%zu]", i);
        if (req->extra_cloud_config && ci_yaml_safe(req->extra_cloud_config,
                                                    "extra_cloud_config", err) < 0)
                return -1;
        if (!req->network_config)
                return 0;
        version = json_object_get(req->network_config, "version");
        if (!json_is_object(req->network_config) || !json_is_integer(version) ||
            (json_integer_value(version) != 1 && json_integer_value(version) != 2))
                return hd_error_set(err, HD_E_INVALID,
                                    "network_config must be an object with \"version\": 1 or 2 "
                                    "(cloud-init network config v1 or v2)");
        return ci_yaml_safe(req->network_config, "network_config", err);
}

/* hostd's own cloud-config: the workspace user and the SSH policy. */
static json_t *base_cloud_config(const ci_request *req)
{
        json_t *keys = json_array();

        for (size_t i = 0; i < req->n_ssh_keys; i++)
                json_array_append_new(keys, json_string(req->ssh_keys[i]));
        return json_pack("{s:[{s:s, s:s, s:s, s:b, s:o}], s:b, s:b, s:b}",
                         "users",
                         "name", req->username,
                         "sudo", WORKSPACE_SUDO,
                         "shell", WORKSPACE_SHELL,
                         "lock_passwd", 1,
                         "ssh_authorized_keys", keys,
                         "ssh_pwauth", 0,
                         "disable_root", 1,
                         "manage_etc_hosts", 1);
}

int ci_render(const ci_request *req, ci_seed *out, hd_error *err)
{
        _cleanup_(json_decrefp) json_t *meta = NULL;
        _cleanup_(json_decrefp) json_t *user = NULL;
        ci_seed seed = {0};

        memset(out, 0, sizeof(*out));
        if (check_request(req, err) < 0)
                return -1;
        meta = json_pack("{s:s, s:s}", "instance-id", req->instance_id, "local-hostname",
                         req->hostname);
        user = base_cloud_config(req);
        if (!meta || !user)
                return hd_error_set(err, HD_E_INTERNAL, "cannot build cloud-init data");
        if (req->extra_cloud_config &&
            ci_merge_cloud_config(user, req->extra_cloud_config, req->username, err) < 0)
                return -1;
        seed.meta_data = dump(meta, "", err);
        seed.user_data = dump(user, "#cloud-config\n", err);
        if (req->network_config)
                seed.network_config = dump(req->network_config, "", err);
        if (!seed.meta_data || !seed.user_data || (req->network_config && !seed.network_config)) {
                ci_seed_free(&seed);
                return -1;
        }
        *out = seed;
        return 0;
}

void ci_seed_free(ci_seed *seed)
{
        if (!seed)
                return;
        free(seed->meta_data);
        free(seed->user_data);
        free(seed->network_config);
        memset(seed, 0, sizeof(*seed));
}

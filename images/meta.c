/* meta.c — an image's meta.json (name, format, sha256, virtual_size, file_size,
 * imported_at), written with jansson at import and read back by img_get. */
#include "images/images-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <jansson.h>
#include <stdlib.h>

#define META_MAX (64u << 10)

bool img_sha256_hex_valid(const char *s)
{
        size_t i;

        for (i = 0; s && i < IMG_SHA256_HEX; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s && s[i] == '\0';
}

int img_meta_write(const char *dir, const img_info *info, hd_error *err)
{
        _cleanup_(json_decrefp) json_t *o = json_pack(
                "{s:s, s:s, s:s, s:I, s:I, s:I}", "name", info->name, "format", info->format,
                "sha256", info->sha256, "virtual_size", (json_int_t)info->virtual_size,
                "file_size", (json_int_t)info->file_size, "imported_at",
                (json_int_t)info->imported_at);
        _cleanup_free_ char *text = NULL, *path = NULL;
        _cleanup_buf_ hd_buf b = HD_BUF_INIT;

        if (!o || !(text = json_dumps(o, JSON_INDENT(2))))
                return hd_error_set(err, HD_E_INTERNAL, "cannot build meta.json");
        hd_buf_appendf(&b, "%s\n", text);
        path = hd_path_join(dir, IMG_META_FILE);
        return hd_write_file_atomic(path, b.data, b.len, 0444, err);
}

/* A non-negative integer member, or -1. */
static int64_t member_uint(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);

        return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

int img_meta_read(const char *dir, const char *name, img_info *out, hd_error *err)
{
        _cleanup_free_ char *path = hd_path_join(dir, IMG_META_FILE), *text = NULL;
        _cleanup_(json_decrefp) json_t *o = NULL;
        const char *vname, *format, *sha;
        int64_t vsize, fsize, at;
        json_error_t jerr;
        size_t len = 0;

        if (hd_read_file(path, META_MAX, &text, &len, err) < 0)
                return -1;
        o = json_loadb(text, len, 0, &jerr);
        if (!json_is_object(o))
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE, "%s is not a JSON object: %s", path,
                                    o ? "wrong type" : jerr.text);
        vname = json_string_value(json_object_get(o, "name"));
        format = json_string_value(json_object_get(o, "format"));
        sha = json_string_value(json_object_get(o, "sha256"));
        vsize = member_uint(o, "virtual_size");
        fsize = member_uint(o, "file_size");
        at = member_uint(o, "imported_at");
        if (!vname || strcmp(vname, name) != 0 || !img_format_bit(format) ||
            !img_sha256_hex_valid(sha) || vsize <= 0 || fsize < 0 || at < 0)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "%s is damaged (a field is missing or wrong): delete and "
                                    "re-import the image", path);
        snprintf(out->name, sizeof(out->name), "%s", vname);
        snprintf(out->format, sizeof(out->format), "%s", format);
        snprintf(out->sha256, sizeof(out->sha256), "%s", sha);
        out->virtual_size = (uint64_t)vsize;
        out->file_size = (uint64_t)fsize;
        out->imported_at = at;
        return 0;
}

/* inspect.c — deciding whether a file copied into the store is an image hostd
 * may use: of the format the caller stated, self-contained (no backing file,
 * no external data file, not encrypted), with a known virtual size.
 *
 * Two looks, both at the copy: our own read of the qcow2 header, then
 * `qemu-img info -f FMT --output=json` run under resource limits (a crafted
 * image must not make qemu-img eat the host, as in OpenStack's OSSA-2016-013),
 * whose JSON is read with jansson. qemu-img info opens no backing file. */
#include "images/images-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/run.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

/* Limits for qemu-img info: address space and CPU seconds. */
#define QEMU_IMG_AS_LIMIT "--as=1073741824"
#define QEMU_IMG_CPU_LIMIT "--cpu=30"

char *img_printable(const char *s, size_t max)
{
        hd_buf b = HD_BUF_INIT;
        size_t i;

        hd_buf_append(&b, "");
        for (i = 0; s[i] && i < max; i++)
                hd_buf_append_len(&b, s[i] >= 0x20 && s[i] < 0x7f ? &s[i] : "?", 1);
        if (s[i])
                hd_buf_append(&b, "...");
        return hd_buf_steal(&b);
}

static int refuse_backing(const char *format, const char *backing, hd_error *err)
{
        _cleanup_free_ char *shown = img_printable(backing, 120);

        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                            "the %s image has a backing file (\"%s\"): a golden image must be "
                            "self-contained; flatten it first (qemu-img convert -O %s)",
                            format, shown, format);
}

static int refuse_data_file(hd_error *err)
{
        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                            "the qcow2 image uses an external data file: a golden image must be "
                            "a single file; convert it first (qemu-img convert -O qcow2)");
}

/* Our own look at the header: refuse before any program opens the file. */
static int check_header(int fd, const char *format, hd_error *err)
{
        img_qcow2_header h;

        if (strcmp(format, "raw") == 0) {
                if (img_qcow2_has_magic(fd))
                        return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                            "the file starts with a qcow2 header but format raw "
                                            "was stated: import it with format qcow2");
                return 0;
        }
        if (img_qcow2_read_header(fd, &h, err) < 0)
                return err && err->code == HD_E_IO
                               ? -1
                               : hd_error_prefix(err, "not a valid qcow2 image (a raw disk must "
                                                      "be imported with format raw)");
        if (h.backing) {
                int r = refuse_backing(format, h.backing, err);
                img_qcow2_header_clear(&h);
                return r;
        }
        if (h.incompatible_features & IMG_QCOW2_INCOMPAT_DATA_FILE)
                return refuse_data_file(err);
        if (h.crypt_method != 0)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "the qcow2 image is encrypted: hostd cannot use encrypted "
                                    "golden images");
        return 0;
}

/* What qemu-img says, checked field by field. */
static int check_qemu_info(const char *json, const char *format, uint64_t *virtual_size,
                           hd_error *err)
{
        json_error_t jerr;
        _cleanup_(json_decrefp) json_t *root = json_loads(json, 0, &jerr);
        json_t *v, *data;
        const char *s;

        if (!json_is_object(root))
                return hd_error_set(err, HD_E_IO, "cannot parse qemu-img info output: %s",
                                    root ? "not an object" : jerr.text);
        s = json_string_value(json_object_get(root, "format"));
        if (!s || strcmp(s, format) != 0)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE, "not a valid %s image (qemu-img "
                                    "reads it as %s)", format, s ? s : "nothing");
        if ((v = json_object_get(root, "backing-filename")) ||
            (v = json_object_get(root, "full-backing-filename")))
                return refuse_backing(format, json_is_string(v) ? json_string_value(v) : "?", err);
        data = json_object_get(json_object_get(root, "format-specific"), "data");
        if (json_object_get(data, "data-file"))
                return refuse_data_file(err);
        if (json_is_true(json_object_get(root, "encrypted")))
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE, "the image is encrypted: hostd "
                                    "cannot use encrypted golden images");
        v = json_object_get(root, "virtual-size");
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return hd_error_set(err, HD_E_UNUSABLE_IMAGE,
                                    "the image has no virtual size (an empty file?)");
        *virtual_size = (uint64_t)json_integer_value(v);
        return 0;
}

int img_inspect(const char *path, const char *format, uint64_t *virtual_size, hd_error *err)
{
        const char *argv[] = {"prlimit", QEMU_IMG_AS_LIMIT, QEMU_IMG_CPU_LIMIT, "--",
                              "qemu-img", "info", "-f", format, "--output=json", path, NULL};
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_free_ char *out = NULL;

        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot open %s", path);
        if (check_header(fd, format, err) < 0)
                return -1;
        if (hd_run(argv, &out, err) < 0) {
                /* Keep what qemu-img said, not prlimit's exit status. */
                const char *said = err ? strstr(err->message, "qemu-img: ") : NULL;

                if (said)
                        memmove(err->message, said, strlen(said) + 1);
                if (err)
                        err->code = HD_E_UNUSABLE_IMAGE;
                return hd_error_prefix(err, "not a valid %s image (qemu-img info -f %s refused it)",
                                       format, format);
        }
        return check_qemu_info(out, format, virtual_size, err);
}

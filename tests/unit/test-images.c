/* test-images.c — the golden image store and workspace disks (images/).
 *
 * Needs qemu-img and qemu-io, not libvirt. Every hostile image is made here
 * at test time, with qemu-img or by writing its bytes: a backing file that
 * points at /etc/shadow, an external data file, a raw file claimed as qcow2,
 * a 1 PiB qcow2 of a few KiB. Each refusal must say why and leave nothing. */
#include "common/common.h"
#include "images/images.h"
#include "tests/fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static char top[] = "/tmp/hostd-test-images-XXXXXX";
static char *root, *src;

static char *at(const char *dir, const char *name)
{
        return hd_path_join(dir, name);
}

static char *store_path(const char *rel)
{
        return hd_asprintf("%s/%s", root, rel);
}

/* Names in a directory, dot-files included, "." and ".." left out. */
static int count_entries(const char *dir, const char *prefix)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                    strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        closedir(d);
        return n;
}

static bool images_holds_nothing(void)
{
        _cleanup_free_ char *dir = store_path("images");
        return count_entries(dir, "") == 0;
}

/* Temporary entries (.import-*, .delete-*) in images/. */
static int images_dot_entries(void)
{
        _cleanup_free_ char *dir = store_path("images");
        return count_entries(dir, ".");
}

static char *sha256_of(const char *path)
{
        const char *argv[] = {"sha256sum", path, NULL};
        char *out = NULL;

        if (hd_run(argv, &out, NULL) < 0)
                return hd_strdup("?");
        out[strcspn(out, " ")] = '\0';
        return out;
}

static char *qemu_info(const char *path)
{
        const char *argv[] = {"qemu-img", "info", "-U", "--output=json", path, NULL};
        char *out = NULL;

        if (hd_run(argv, &out, NULL) < 0)
                return hd_strdup("");
        return out;
}

static void put_be32(unsigned char *p, uint32_t v)
{
        p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
        p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
        put_be32(p, (uint32_t)(v >> 32));
        put_be32(p + 4, (uint32_t)v);
}

/* A qcow2 v2 header claiming 1 PiB with 2 MiB clusters: its L1 and refcount
 * tables are holes, so the file takes a few KiB on disk. */
static void write_size_bomb(const char *path)
{
        unsigned char h[72] = {0};
        const uint32_t cluster_bits = 21;
        const uint64_t cluster = UINT64_C(1) << cluster_bits, size = UINT64_C(1) << 50;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        put_be32(h, 0x514649fb);
        put_be32(h + 4, 2);
        put_be32(h + 20, cluster_bits);
        put_be64(h + 24, size);
        put_be32(h + 36, (uint32_t)(size / (cluster * (cluster / 8)))); /* L1 entries */
        put_be64(h + 40, cluster);                                       /* L1 table */
        put_be64(h + 48, 2 * cluster);                                   /* refcount table */
        put_be32(h + 56, 1);
        if (fd < 0 || write(fd, h, sizeof(h)) != (ssize_t)sizeof(h) ||
            ftruncate(fd, (off_t)(3 * cluster)) < 0)
                printf("# cannot write %s\n", path);
        if (fd >= 0)
                close(fd);
}

/* The bomb's header with a 1-entry L1 table: a qcow2 header that qemu-img
 * itself refuses ("L1 table is too small"). */
static void break_l1(const char *path)
{
        unsigned char one[4];
        int fd = open(path, O_WRONLY);

        put_be32(one, 1);
        if (fd < 0 || pwrite(fd, one, 4, 36) != 4)
                printf("# cannot patch %s\n", path);
        if (fd >= 0)
                close(fd);
}

static void write_bytes(const char *path, const char *data, size_t len, off_t size)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (fd < 0 || write(fd, data, len) != (ssize_t)len || ftruncate(fd, size) < 0)
                printf("# cannot write %s\n", path);
        if (fd >= 0)
                close(fd);
}

/* A small real qcow2 with data in it. */
static char *make_qcow2(const char *name, const char *size)
{
        char *path = at(src, name);
        const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
        const char *fill[] = {"qemu-io", "-f", "qcow2", "-c", "write -P 0x42 0 1M", path, NULL};

        if (!tl_run_ok(create) || !tl_run_ok(fill))
                printf("# cannot make %s\n", path);
        return path;
}

static void test_names(void)
{
        hd_error err = {0};

        CHECK(img_name_valid("debian-12.1_base", &err) == 0, "a plain name is accepted");
        CHECK(img_name_valid("../etc", &err) < 0 && err.code == HD_E_INVALID,
              "a name with ../ is refused as invalid input");
        CHECK_CONTAINS(err.message, "'/'", "the message says '/' is not allowed");
        CHECK(img_name_valid("a..b", &err) < 0, "a name with .. is refused");
        CHECK_CONTAINS(err.message, "must not contain '..'", "the message says '..' is not allowed");
        CHECK_CONTAINS(err.message, "a-z, 0-9, '.', '_' and '-'", "the message says what is allowed");
        CHECK(img_name_valid("", &err) < 0, "an empty name is refused");
        CHECK(img_name_valid(".hidden", &err) < 0, "a name starting with a dot is refused");
        CHECK(img_name_valid("Debian", &err) < 0, "upper case is refused");
        CHECK(img_name_valid("a b", &err) < 0, "a space is refused");
        CHECK(img_name_valid("a23456789012345678901234567890123456789012345678901234567890123",
                             &err) == 0, "63 characters are accepted");
        CHECK(img_name_valid("a234567890123456789012345678901234567890123456789012345678901234",
                             &err) < 0, "64 characters are refused");
}

/* Import that must fail with code and message, leaving nothing behind. */
static void refused(img_store *s, const char *name, const char *source, const char *format,
                    const char *sha, hd_errcode code, const char *needle, const char *what)
{
        img_import_req req = {name, source, format, sha};
        hd_error err = {0};
        _cleanup_free_ char *label = hd_asprintf("%s: refused", what);
        _cleanup_free_ char *left = hd_asprintf("%s: nothing is left in images/", what);

        CHECK(img_import(s, &req, NULL, &err) < 0 && err.code == code, label);
        printf("#   %s: %s\n", hd_errcode_name(err.code), err.message);
        CHECK_CONTAINS(err.message, needle, what);
        CHECK(images_holds_nothing(), left);
}

static void test_refusals(img_store *s)
{
        _cleanup_free_ char *backing = at(src, "backing.qcow2"), *data_file = at(src, "df.qcow2");
        _cleanup_free_ char *data_raw = at(src, "df.raw"), *rnd = at(src, "random.raw");
        _cleanup_free_ char *bomb = at(src, "bomb.qcow2"), *good = make_qcow2("ok.qcow2", "64M");
        _cleanup_free_ char *broken = at(src, "broken.qcow2"), *big_raw = at(src, "big.raw");
        _cleanup_free_ char *data_opt = hd_asprintf("data_file=%s", data_raw);
        const char *mk_backing[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                                    "-b", "/etc/shadow", backing, "1G", NULL};
        const char *mk_data[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-o", data_opt,
                                 data_file, "64M", NULL};
        char noise[4096];
        struct stat st;

        for (size_t i = 0; i < sizeof(noise); i++)
                noise[i] = (char)(i * 7 + 1);
        write_bytes(rnd, noise, sizeof(noise), 1 << 20);
        write_size_bomb(bomb);
        write_size_bomb(broken);
        break_l1(broken);
        write_bytes(big_raw, "x", 1, (off_t)(300 * GIB));
        CHECK(tl_run_ok(mk_backing) && tl_run_ok(mk_data), "crafted images are made");
        CHECK(stat(bomb, &st) == 0 && st.st_blocks * 512 < 64 * 1024, "the bomb takes a few KiB");

        refused(s, "evil", backing, "qcow2", NULL, HD_E_UNUSABLE_IMAGE, "has a backing file",
                "a qcow2 with a backing file");
        refused(s, "evil", backing, "qcow2", NULL, HD_E_UNUSABLE_IMAGE, "/etc/shadow",
                "the message names the backing file");
        refused(s, "evil", data_file, "qcow2", NULL, HD_E_UNUSABLE_IMAGE, "external data file",
                "a qcow2 with an external data file");
        refused(s, "evil", rnd, "qcow2", NULL, HD_E_UNUSABLE_IMAGE, "not a valid qcow2 image",
                "a raw file claimed as qcow2");
        refused(s, "evil", good, "raw", NULL, HD_E_UNUSABLE_IMAGE, "import it with format qcow2",
                "a qcow2 file claimed as raw");
        refused(s, "bomb", bomb, "qcow2", NULL, HD_E_UNUSABLE_IMAGE,
                "virtual size is 1125899906842624 bytes", "a 1 PiB qcow2 (its size is said)");
        refused(s, "bomb", bomb, "qcow2", NULL, HD_E_UNUSABLE_IMAGE,
                "limit of 274877906944 bytes", "a 1 PiB qcow2 (the limit is said)");
        refused(s, "big", big_raw, "raw", NULL, HD_E_UNUSABLE_IMAGE,
                "virtual size is 322122547200 bytes", "a 300 GiB raw file, before it is copied");
        refused(s, "broken", broken, "qcow2", NULL, HD_E_UNUSABLE_IMAGE,
                "qemu-img info -f qcow2 refused it", "a qcow2 header that qemu-img refuses");
        refused(s, "../evil", good, "qcow2", NULL, HD_E_INVALID, "must not contain '/'",
                "a name with ../");
        refused(s, "a/b", good, "qcow2", NULL, HD_E_INVALID, "must not contain '/'",
                "a name with /");
        refused(s, "sum", good, "qcow2",
                "0000000000000000000000000000000000000000000000000000000000000000",
                HD_E_UNUSABLE_IMAGE, "checksum mismatch", "a checksum mismatch");
        refused(s, "sum", good, "qcow2",
                "0000000000000000000000000000000000000000000000000000000000000000",
                HD_E_UNUSABLE_IMAGE, "but 0000000000000000000000000000000000000000000000000000000000000000 was expected",
                "the checksum mismatch names the expected sum");
        refused(s, "sum", good, "qcow2", "abc", HD_E_INVALID, "64 hexadecimal digits",
                "a malformed checksum");
        refused(s, "nofmt", good, NULL, NULL, HD_E_INVALID, "format is required",
                "a missing format");
        refused(s, "nofmt", good, "", NULL, HD_E_INVALID, "never guessed", "an empty format");
        refused(s, "vmdk", good, "vmdk", NULL, HD_E_INVALID, "use qcow2 or raw",
                "an unsupported format");
        refused(s, "gone", "/nonexistent/disk.qcow2", "qcow2", NULL, HD_E_NOT_FOUND,
                "/nonexistent/disk.qcow2", "a missing source");
        refused(s, "dir", src, "raw", NULL, HD_E_INVALID, "not a regular file",
                "a directory as source");
}

static void test_format_limits(void)
{
        img_limits only_qcow2 = {GIB, IMG_FMT_QCOW2};
        _cleanup_free_ char *dir = at(top, "qcow2-only"), *raw = at(src, "fmt.raw");
        img_import_req req = {"r", raw, "raw", NULL};
        hd_error err = {0};
        img_store *s = img_store_open(dir, &only_qcow2, &err);

        write_bytes(raw, "x", 1, 1 << 20);
        CHECK(s != NULL, "a store limited to qcow2 opens");
        CHECK(s && img_import(s, &req, NULL, &err) < 0 && err.code == HD_E_INVALID,
              "raw is refused where only qcow2 is allowed");
        CHECK_CONTAINS(err.message, "not allowed on this host (allowed: qcow2)",
                       "the message says which formats are allowed");
        img_store_close(s);
}

static void test_good_imports(img_store *s)
{
        _cleanup_free_ char *q = at(src, "ok.qcow2"), *raw = at(src, "good.raw");
        _cleanup_free_ char *qsha = sha256_of(q), *upper = hd_strdup(qsha), *rsha = NULL;
        _cleanup_free_ char *meta = store_path("images/deb/meta.json"), *text = NULL;
        _cleanup_free_ char *ddir = store_path("images/deb");
        _cleanup_free_ char *want_path = store_path("images/deb/disk.qcow2");
        img_import_req qreq = {"deb", q, "qcow2", upper};
        img_import_req rreq = {"raw1", raw, "raw", NULL};
        _cleanup_(img_info_clear) img_info qi = {0};
        _cleanup_(img_info_clear) img_info ri = {0};
        hd_error err = {0};
        struct stat st, sst;

        for (char *p = upper; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
        write_bytes(raw, "bootsector", 10, 32 << 20);
        rsha = sha256_of(raw);

        CHECK(img_import(s, &qreq, &qi, &err) == 0, "a qcow2 image with its expected sha256 imports");
        if (err.code)
                printf("# %s\n", err.message);
        CHECK_STR(qi.format, "qcow2", "the format is recorded");
        CHECK_STR(qi.sha256, qsha, "the sha256 is the source's");
        CHECK(qi.virtual_size == 64 * MIB, "the virtual size is qemu-img's");
        CHECK(stat(q, &sst) == 0 && qi.file_size == (uint64_t)sst.st_size, "the file size is the source's");
        CHECK(llabs((long long)(qi.imported_at - time(NULL))) < 120, "the import time is now");
        CHECK(qi.path && stat(qi.path, &st) == 0 && (st.st_mode & 0777) == 0444,
              "the stored disk is read-only (0444)");
        CHECK_STR(qi.path, want_path, "the disk lives in images/<name>/");
        CHECK(count_entries(ddir, "") == 2, "the image directory holds the disk and meta.json only");
        CHECK(hd_read_file(meta, 4096, &text, NULL, &err) == 0, "meta.json is written");
        CHECK_CONTAINS(text, "\"sha256\": \"", "meta.json has the sha256");
        CHECK_CONTAINS(text, "\"virtual_size\": 67108864", "meta.json has the virtual size");

        CHECK(img_import(s, &rreq, &ri, &err) == 0, "a raw image without a checksum imports");
        CHECK_STR(ri.sha256, rsha, "the raw image's sha256 is computed");
        CHECK(ri.virtual_size == 32 * MIB && ri.file_size == 32 * MIB, "raw sizes are the file's");
        CHECK(stat(ri.path, &st) == 0 && (uint64_t)st.st_blocks * 512 < 4 * MIB, "a sparse raw stays sparse");

        CHECK(img_import(s, &qreq, NULL, &err) < 0 && err.code == HD_E_CONFLICT,
              "importing a taken name is a conflict");
        CHECK_CONTAINS(err.message, "already exists", "the conflict says the name is taken");
        CHECK(images_dot_entries() == 0, "no temporary directory remains");
}

static void test_catalog(img_store *s)
{
        _cleanup_free_ char *raw = at(src, "tamper.raw");
        _cleanup_free_ char *meta = store_path("images/tamper/meta.json");
        img_import_req req = {"tamper", raw, "raw", NULL};
        _cleanup_(img_info_clear) img_info one = {0};
        _cleanup_(img_info_clear) img_info t = {0};
        img_info *list = NULL;
        hd_error err = {0};
        size_t n = 0;
        int fd;

        write_bytes(raw, "original", 8, 1 << 20);
        CHECK(img_import(s, &req, &t, &err) == 0, "a third image imports");
        CHECK(img_list(s, &list, &n, &err) == 0 && n == 3, "all images are listed");
        CHECK(n == 3 && !strcmp(list[0].name, "deb") && !strcmp(list[1].name, "raw1") &&
                      !strcmp(list[2].name, "tamper"),
              "the list is sorted by name");
        img_info_list_free(list, n);
        CHECK(img_get(s, "deb", &one, &err) == 0 && one.virtual_size == 64 * MIB,
              "get reads meta.json");
        CHECK(img_get(s, "nothere", &one, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "get of an unknown image is not found");
        CHECK(img_verify(s, "deb", &err) == 0, "verify passes on an untouched image");

        chmod(t.path, 0644);
        fd = open(t.path, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, "O", 1, 0) == 1, "the test flips a byte of the stored disk");
        close(fd);
        CHECK(img_verify(s, "tamper", &err) < 0 && err.code == HD_E_UNUSABLE_IMAGE,
              "verify catches a modified disk");
        CHECK_CONTAINS(err.message, "has changed since its import", "verify says what happened");
        CHECK_CONTAINS(err.message, t.sha256, "verify names the recorded sha256");
        write_bytes(meta, "{}", 2, 2);
        CHECK(img_get(s, "tamper", &one, &err) < 0 && err.code == HD_E_UNUSABLE_IMAGE,
              "an image with a damaged meta.json is unusable");
        CHECK_CONTAINS(err.message, "is damaged", "get says meta.json is damaged");
        CHECK(img_list(s, &list, &n, &err) == 0 && n == 2, "the list leaves a damaged image out");
        img_info_list_free(list, n);
        CHECK(img_delete(s, "tamper", &err) == 0, "an unused (even damaged) image is deleted");
        CHECK(img_get(s, "tamper", &one, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "a deleted image is gone");
        CHECK(images_dot_entries() == 0, "deletion leaves nothing");
}

static void test_disks(img_store *s)
{
        _cleanup_(img_info_clear) img_info deb = {0};
        _cleanup_(img_info_clear) img_info raw1 = {0};
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *again = NULL, *info = NULL, *backing = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL, *want = NULL;
        _cleanup_free_ char *disks = store_path("disks"), *link = at(src, "golden-link");
        _cleanup_free_ char *manual = store_path("disks/manual.qcow2");
        char **ids = NULL;
        hd_error err = {0};
        size_t n = 0;
        struct stat st;

        CHECK(img_get(s, "deb", &deb, &err) == 0 && img_get(s, "raw1", &raw1, &err) == 0,
              "the images to clone exist");
        before = sha256_of(deb.path);

        CHECK(img_disk_create(s, "deb", "ws1", GIB, &p1, &err) == 0, "an overlay is created");
        if (err.code)
                printf("# %s\n", err.message);
        want = hd_asprintf("%s/disks/ws1.qcow2", root);
        CHECK_STR(p1, want, "the overlay is disks/<id>.qcow2");
        info = qemu_info(p1);
        CHECK_CONTAINS(info, "\"backing-filename-format\": \"qcow2\"", "the backing format is stated");
        CHECK_CONTAINS(info, deb.path, "the overlay is backed by the golden's absolute path");
        CHECK_CONTAINS(info, "\"virtual-size\": 1073741824", "the overlay has the requested size");
        CHECK(stat(p1, &st) == 0 && (st.st_mode & 0777) == 0600, "the overlay is private (0600)");
        CHECK(img_disk_backing(p1, &backing, &err) == 0 && backing && !strcmp(backing, deb.path),
              "the header parse finds the backing file");

        CHECK(img_disk_create(s, "raw1", "ws2", 64 * MIB, &p2, &err) == 0, "a raw image is cloned");
        free(info);
        info = qemu_info(p2);
        CHECK_CONTAINS(info, "\"backing-filename-format\": \"raw\"", "a raw backing format is stated");

        CHECK(img_disk_create(s, "deb", "ws1", GIB, NULL, &err) < 0 && err.code == HD_E_CONFLICT,
              "an existing disk is a conflict");
        CHECK(img_disk_create(s, "deb", "small", MIB, NULL, &err) < 0 && err.code == HD_E_INVALID,
              "a disk smaller than its image is refused");
        CHECK_CONTAINS(err.message, "1048576 bytes", "the message gives the size asked");
        CHECK_CONTAINS(err.message, "67108864 bytes", "the message gives the image's size");
        CHECK(img_disk_create(s, "deb", "odd", GIB + 1, NULL, &err) < 0 && err.code == HD_E_INVALID,
              "a size that is not whole sectors is refused");
        CHECK(img_disk_create(s, "deb", "huge", 512 * GIB, NULL, &err) < 0 &&
                      err.code == HD_E_TOO_LARGE,
              "a disk above the limit is refused");
        CHECK(img_disk_create(s, "nothere", "x", GIB, NULL, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "a disk of an unknown image is not found");
        CHECK(img_disk_create(s, "deb", "../x", GIB, NULL, &err) < 0 && err.code == HD_E_INVALID,
              "a disk id with ../ is refused");
        CHECK_CONTAINS(err.message, "disk id", "the message names the disk id");
        CHECK(count_entries(disks, ".") == 0, "failed creations leave no temporary file");

        CHECK(img_disk_list(s, &ids, &n, &err) == 0 && n == 2 && !strcmp(ids[0], "ws1") &&
                      !strcmp(ids[1], "ws2"),
              "the disks present are listed");
        img_disk_list_free(ids, n);
        CHECK(img_disk_path(s, "ws1", &again, &err) == 0 && !strcmp(again, p1), "a disk's path is found");
        CHECK(img_disk_path(s, "nope", &again, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "an unknown disk has no path");

        CHECK(img_delete(s, "deb", &err) < 0 && err.code == HD_E_CONFLICT,
              "an image with an overlay cannot be deleted");
        CHECK_CONTAINS(err.message, "ws1.qcow2", "the refusal names the disk");
        const char *fill[] = {"qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 4M", p1, NULL};
        CHECK(tl_run_ok(fill), "a guest-like write goes to the overlay");
        CHECK(img_disk_delete(s, "ws1", &err) == 0, "the overlay is deleted");
        CHECK(stat(p1, &st) < 0, "the overlay file is gone");
        after = sha256_of(deb.path);
        CHECK_STR(after, before, "the golden is byte-identical after its overlay is written and deleted");
        CHECK(img_disk_delete(s, "ws1", &err) < 0 && err.code == HD_E_NOT_FOUND,
              "deleting a missing disk is not found");

        /* Backing named through another path: found by inode, not by spelling. */
        CHECK(symlink(raw1.path, link) == 0, "the test links to the raw golden");
        const char *mk_manual[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                                   link, manual, "64M", NULL};
        CHECK(tl_run_ok(mk_manual), "an overlay made by hand through a link");
        CHECK(img_delete(s, "raw1", &err) < 0 && err.code == HD_E_CONFLICT,
              "an image behind another spelling of its path is still in use");
        CHECK_CONTAINS(err.message, "manual.qcow2, ws2.qcow2", "every disk using it is named");
        CHECK(img_disk_delete(s, "manual", &err) == 0 && img_disk_delete(s, "ws2", &err) == 0,
              "its disks are deleted");
        CHECK(img_delete(s, "raw1", &err) == 0, "then the image can be deleted");

        _cleanup_free_ char *subdir = store_path("disks/notadisk"), *junk = store_path("disks/junk.qcow2");
        mkdir(subdir, 0700);
        write_bytes(junk, "not qcow2", 9, 4096);
        CHECK(img_delete(s, "deb", &err) == 0, "an image is deleted once its overlay is gone");
        if (err.code)
                printf("# %s\n", err.message);
        rmdir(subdir);
        unlink(junk);
        CHECK(images_holds_nothing(), "images/ is empty after deleting all images");
}

static void test_backing_parse(void)
{
        _cleanup_free_ char *plain = at(src, "ok.qcow2"), *rnd = at(src, "random.raw");
        char *backing = (char *)"unset";
        hd_error err = {0};

        CHECK(img_disk_backing(plain, &backing, &err) == 0 && backing == NULL,
              "a qcow2 without a backing file has none");
        CHECK(img_disk_backing(rnd, &backing, &err) < 0 && err.code == HD_E_UNUSABLE_IMAGE,
              "a file that is not qcow2 is reported as such");
        CHECK_CONTAINS(err.message, "no qcow2 header", "the message says the header is missing");
}

static void test_leftovers(const img_limits *limits)
{
        _cleanup_free_ char *stale = store_path("images/.import-abc123");
        _cleanup_free_ char *stale_file = store_path("images/.import-abc123/disk.qcow2");
        _cleanup_free_ char *live = store_path("images/.import-live00");
        _cleanup_free_ char *deleting = store_path("images/.delete-old");
        _cleanup_free_ char *creating = store_path("disks/.create-xyz.qcow2");
        hd_error err = {0};
        struct stat st;
        img_store *s;
        int live_fd;

        mkdir(stale, 0700);
        write_bytes(stale_file, "half", 4, 4096);
        mkdir(live, 0700);
        mkdir(deleting, 0700);
        write_bytes(creating, "x", 1, 1);
        live_fd = open(live, O_RDONLY | O_DIRECTORY);
        CHECK(live_fd >= 0 && flock(live_fd, LOCK_EX) == 0, "the test holds an import's lock");

        s = img_store_open(root, limits, &err);
        CHECK(s != NULL, "the store reopens");
        CHECK(stat(stale, &st) < 0, "an interrupted import's directory is removed at open");
        CHECK(stat(deleting, &st) < 0, "an interrupted deletion's directory is removed at open");
        CHECK(stat(creating, &st) < 0, "an interrupted disk creation's file is removed at open");
        CHECK(stat(live, &st) == 0, "an import still running (locked) is left alone");
        close(live_fd);
        img_store_close(s);
        s = img_store_open(root, limits, &err);
        CHECK(stat(live, &st) < 0, "once its lock is gone, it is removed too");
        img_store_close(s);
}

static void test_open(void)
{
        _cleanup_free_ char *dir = at(top, "fresh"), *images = at(dir, "images");
        _cleanup_free_ char *disks = at(dir, "disks");
        hd_error err = {0};
        struct stat st;
        img_store *s = img_store_open(dir, NULL, &err);

        CHECK(s != NULL, "a store opens on a new directory");
        CHECK(stat(images, &st) == 0 && (st.st_mode & 0777) == 0711, "images/ is created 0711 (qemu may traverse, nobody may list)");
        CHECK(stat(disks, &st) == 0 && (st.st_mode & 0777) == 0711, "disks/ is created 0711");
        img_store_close(s);
        chmod(images, 0777);
        CHECK(img_store_open(dir, NULL, &err) == NULL && err.code == HD_E_IO,
              "a store whose images/ others can write is refused");
        CHECK_CONTAINS(err.message, "not be writable by group or others", "the message says why");
}

int main(void)
{
        img_limits limits = {256 * GIB, 0};
        hd_error err = {0};
        img_store *s;

        if (!mkdtemp(top))
                return 1;
        root = at(top, "store");
        src = at(top, "src");
        mkdir(src, 0700);

        test_names();
        test_open();
        s = img_store_open(root, &limits, &err);
        CHECK(s != NULL, "the test store opens");
        if (!s) {
                printf("# %s\n", err.message);
                return tl_done();
        }
        test_refusals(s);
        test_format_limits();
        test_good_imports(s);
        test_catalog(s);
        test_disks(s);
        test_backing_parse();
        img_store_close(s);
        test_leftovers(&limits);

        const char *rm[] = {"rm", "-rf", top, NULL};
        tl_run_ok(rm);
        free(root);
        free(src);
        return tl_done();
}

/* store.c — opening an image store: its directories, its lock, name rules,
 * and the removal of what a crashed import, deletion or disk creation left. */
#include "images/images-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static bool name_char_ok(char c, bool first)
{
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                return true;
        return !first && (c == '.' || c == '_' || c == '-');
}

int img_check_name(const char *what, const char *name, hd_error *err)
{
        static const char rule[] = "use 1 to 63 characters from a-z, 0-9, '.', '_' and '-', "
                                   "starting with a letter or a digit";

        if (!name || !*name)
                return hd_error_set(err, HD_E_INVALID, "%s is empty: %s", what, rule);
        if (strnlen(name, IMG_NAME_MAX + 1) > IMG_NAME_MAX)
                return hd_error_set(err, HD_E_INVALID, "%s is longer than %d characters: %s",
                                    what, IMG_NAME_MAX, rule);
        if (strchr(name, '/'))
                return hd_error_set(err, HD_E_INVALID, "%s must not contain '/': %s", what, rule);
        if (strstr(name, ".."))
                return hd_error_set(err, HD_E_INVALID, "%s must not contain '..': %s", what, rule);
        if (!name_char_ok(name[0], true))
                return hd_error_set(err, HD_E_INVALID, "%s must start with a-z or 0-9: %s",
                                    what, rule);
        for (const char *p = name; *p; p++)
                if (!name_char_ok(*p, false))
                        return hd_error_set(err, HD_E_INVALID,
                                            "%s contains a character that is not allowed: %s",
                                            what, rule);
        return 0;
}

int img_name_valid(const char *name, hd_error *err)
{
        return img_check_name("image name", name, err);
}

char *img_disk_file_path(const img_store *store, const char *name, const char *format)
{
        return hd_asprintf("%s/%s/disk.%s", store->images_dir, name, format);
}

int img_store_lock(img_store *store, int how, hd_error *err)
{
        _cleanup_close_ int fd = open(store->lock_path,
                                      O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno, "cannot open %s", store->lock_path);
        while (flock(fd, how) < 0)
                if (errno != EINTR)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot lock %s",
                                              store->lock_path);
        return steal_fd(&fd);
}

int img_remove_dir_at(int parent_fd, const char *name, hd_error *err)
{
        _cleanup_close_ int fd = openat(parent_fd, name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        if (fd < 0)
                return errno == ENOENT ? 0 : hd_error_errno(err, HD_E_IO, errno, "cannot open %s", name);
        d = fdopendir(fd);
        if (!d)
                return hd_error_errno(err, HD_E_IO, errno, "cannot read %s", name);
        fd = -1; /* owned by d now */
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot remove %s/%s", name,
                                              de->d_name);
        }
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return hd_error_errno(err, HD_E_IO, errno, "cannot remove %s", name);
        return 0;
}

DIR *img_opendir_at(int dir_fd, const char *shown, hd_error *err)
{
        int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;

        if (fd < 0 || !(d = fdopendir(fd))) {
                hd_error_errno(err, HD_E_IO, errno, "cannot read %s", shown);
                if (fd >= 0)
                        close(fd);
                return NULL;
        }
        return d;
}

/* An import in progress holds a flock on its temporary directory; one whose
 * lock can be taken was left by a process that is gone. */
static bool import_abandoned(int parent_fd, const char *name)
{
        _cleanup_close_ int fd = openat(parent_fd, name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/* Remove leftovers. Called with the store's lock held exclusively, so no
 * deletion or disk creation is under way; imports are told apart by their lock. */
static int sweep(img_store *store, hd_error *err)
{
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        if (!(d = img_opendir_at(store->images_fd, store->images_dir, err)))
                return -1;
        while ((de = readdir(d))) {
                bool stale = strncmp(de->d_name, IMG_DELETE_PREFIX, strlen(IMG_DELETE_PREFIX)) == 0 ||
                             (strncmp(de->d_name, IMG_IMPORT_PREFIX, strlen(IMG_IMPORT_PREFIX)) == 0 &&
                              import_abandoned(store->images_fd, de->d_name));

                if (stale && img_remove_dir_at(store->images_fd, de->d_name, err) < 0)
                        return hd_error_prefix(err, "removing what an interrupted import left");
        }
        closedir(steal_ptr(d));

        if (!(d = img_opendir_at(store->disks_fd, store->disks_dir, err)))
                return -1;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, IMG_CREATE_PREFIX, strlen(IMG_CREATE_PREFIX)) == 0 &&
                    unlinkat(store->disks_fd, de->d_name, 0) < 0 && errno != ENOENT)
                        return hd_error_errno(err, HD_E_IO, errno, "cannot remove %s/%s",
                                              store->disks_dir, de->d_name);
        return 0;
}

/* Create (when missing) and open one of the store's directories, refusing
 * one that another user could have planted or could write into. */
static int open_subdir(const char *path, hd_error *err)
{
        struct stat st;
        int fd;

        /* 0711: the VM process (libvirt-qemu) must reach disks and their
         * backing images by path, but nobody else may list or write here. */
        if (mkdir(path, 0711) < 0 && errno != EEXIST)
                return hd_error_errno(err, HD_E_IO, errno, "cannot create %s", path);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return hd_error_errno(err, HD_E_IO, errno,
                                      "cannot open %s (it must be a directory, not a link)", path);
        if (fstat(fd, &st) < 0) {
                close(fd);
                return hd_error_errno(err, HD_E_IO, errno, "cannot stat %s", path);
        }
        if (st.st_uid != geteuid() || (st.st_mode & 022)) {
                close(fd);
                return hd_error_set(err, HD_E_IO,
                                    "%s must belong to uid %u and not be writable by group or "
                                    "others (it belongs to uid %u, mode %03o): fix it with chown "
                                    "and chmod 0711",
                                    path, (unsigned)geteuid(), (unsigned)st.st_uid,
                                    (unsigned)(st.st_mode & 0777));
        }
        if ((st.st_mode & 0777) != 0711 && fchmod(fd, 0711) < 0) {
                close(fd);
                return hd_error_errno(err, HD_E_IO, errno, "cannot chmod %s", path);
        }
        return fd;
}

img_store *img_store_open(const char *root, const img_limits *limits, hd_error *err)
{
        img_store *store;
        char resolved[PATH_MAX];
        _cleanup_close_ int lock = -1;

        if (!root || !*root) {
                hd_error_set(err, HD_E_INVALID, "the image store needs a root directory");
                return NULL;
        }
        if (limits && (limits->allowed_formats & ~(IMG_FMT_QCOW2 | IMG_FMT_RAW))) {
                hd_error_set(err, HD_E_INVALID, "allowed image formats are qcow2 and raw only");
                return NULL;
        }
        if (hd_mkdir_p(root, 0711, err) < 0)
                return NULL;
        if (!realpath(root, resolved)) {
                hd_error_errno(err, HD_E_IO, errno, "cannot resolve %s", root);
                return NULL;
        }

        store = hd_malloc0(sizeof(*store));
        store->images_fd = store->disks_fd = -1;
        store->root = hd_strdup(resolved);
        store->images_dir = hd_path_join(resolved, "images");
        store->disks_dir = hd_path_join(resolved, "disks");
        store->lock_path = hd_path_join(resolved, ".lock");
        store->limits.max_virtual_size = IMG_DEFAULT_MAX_VIRTUAL_SIZE;
        store->limits.allowed_formats = IMG_FMT_QCOW2 | IMG_FMT_RAW;
        if (limits && limits->max_virtual_size)
                store->limits.max_virtual_size = limits->max_virtual_size;
        if (limits && limits->allowed_formats)
                store->limits.allowed_formats = limits->allowed_formats;

        if ((store->images_fd = open_subdir(store->images_dir, err)) < 0 ||
            (store->disks_fd = open_subdir(store->disks_dir, err)) < 0 ||
            (lock = img_store_lock(store, LOCK_EX, err)) < 0 || sweep(store, err) < 0) {
                img_store_close(store);
                return NULL;
        }
        return store;
}

void img_store_close(img_store *store)
{
        if (!store)
                return;
        if (store->images_fd >= 0)
                close(store->images_fd);
        if (store->disks_fd >= 0)
                close(store->disks_fd);
        free(store->root);
        free(store->images_dir);
        free(store->disks_dir);
        free(store->lock_path);
        free(store);
}

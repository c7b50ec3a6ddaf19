/* template-dir.c — a directory of template files (/etc/hostd/templates/ by
 * default), loaded all-or-nothing: every file is read and checked, every
 * error of every file is listed, and a set is returned only when there is
 * none.  A file must be named after its template: <name>.json. */
#include "orchestrator/template-internal.h"

#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_template_file(const struct dirent *de)
{
        size_t len = strlen(de->d_name);

        return de->d_name[0] != '.' && len > 5 && strcmp(de->d_name + len - 5, ".json") == 0;
}

static int by_name(const void *a, const void *b)
{
        return strcmp((*(orch_template *const *)a)->name, (*(orch_template *const *)b)->name);
}

/* Read, parse and name-check one file; errors go to errs under its name. */
static orch_template *load_one(const char *dir, const char *file, orch_template_errors *errs)
{
        _cleanup_free_ char *path = hd_path_join(dir, file), *data = NULL;
        _cleanup_free_ char *shown = orch_tpl_path("", file); /* a file name may hold anything */
        orch_template_errors fe = {0};
        orch_template *t = NULL;
        hd_error err = {0};
        size_t len = 0, stem = strlen(file) - 5;
        struct stat st;

        if (stat(path, &st) < 0) {
                if (errno != ENOENT) /* else removed meanwhile */
                        orch_tpl_error_add(errs, shown, "file", "cannot be read: %s", strerror(errno));
                return NULL;
        }
        if (!S_ISREG(st.st_mode))
                return NULL; /* a directory or a device: not a template */
        if (hd_read_file(path, ORCH_TEMPLATE_FILE_MAX, &data, &len, &err) < 0) {
                orch_tpl_error_add(errs, shown, "file", "%s", err.message);
                return NULL;
        }
        if (orch_template_parse(data, len, &t, &fe) < 0) {
                for (size_t i = 0; i < fe.n; i++)
                        orch_tpl_error_add(errs, shown, fe.v[i].path, "%s", fe.v[i].reason);
                orch_template_errors_clear(&fe);
                return NULL;
        }
        if (strlen(t->name) != stem || strncmp(t->name, file, stem) != 0) {
                orch_tpl_error_add(errs, shown, "name",
                                   "is \"%s\" but the file is %s: a template's file must be "
                                   "named <name>.json", t->name, shown);
                orch_template_free(t);
                return NULL;
        }
        return t;
}

int orch_template_load_dir(const char *dir, orch_template_set *out, orch_template_errors *errs)
{
        orch_template_set set = {0};
        struct dirent **list = NULL;
        int n;

        *out = (orch_template_set){0};
        orch_template_errors_clear(errs);
        n = scandir(dir, &list, is_template_file, alphasort);
        if (n < 0) {
                orch_tpl_error_add(errs, dir, "directory", "cannot be read: %s", strerror(errno));
                return -1;
        }
        set.v = n ? hd_malloc0((size_t)n * sizeof(*set.v)) : NULL;
        for (int i = 0; i < n; i++) {
                orch_template *t = load_one(dir, list[i]->d_name, errs);
                if (t)
                        set.v[set.n++] = t;
                free(list[i]);
        }
        free(list);
        if (errs->n) {
                orch_template_set_clear(&set);
                return -1;
        }
        if (set.n > 1)
                qsort(set.v, set.n, sizeof(*set.v), by_name);
        *out = set;
        return 0;
}

const orch_template *orch_template_set_find(const orch_template_set *set, const char *name)
{
        for (size_t i = 0; i < set->n; i++)
                if (strcmp(set->v[i]->name, name) == 0)
                        return set->v[i];
        return NULL;
}

void orch_template_set_clear(orch_template_set *set)
{
        for (size_t i = 0; i < set->n; i++)
                orch_template_free(set->v[i]);
        free(set->v);
        *set = (orch_template_set){0};
}

/* config.c — wsctl's own config file, written by `wsctl login`: the server
 * to talk HTTPS to, the CA that vouches for it and the API token to send.
 * $XDG_CONFIG_HOME/hostd/wsctl.conf, else ~/.config/hostd/wsctl.conf; mode
 * 0600, and a file that others may read (or that is not the user's) is
 * refused: the token in it is a password. */
#include "tools/wsctl/wsctl.h"
#include "common/kv.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX 16384

char *wsctl_config_path(const char *home)
{
        const char *xdg = getenv("XDG_CONFIG_HOME");

        if (xdg && xdg[0] == '/')
                return hd_asprintf("%s/hostd/wsctl.conf", xdg);
        return hd_asprintf("%s/.config/hostd/wsctl.conf", home ? home : "/");
}

void wsctl_config_clear(wsctl_config *c)
{
        free(c->server);
        free(c->ca);
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        free(c->path);
        *c = (wsctl_config){0};
}

bool wsctl_token_text_valid(const char *t)
{
        size_t len = t ? strlen(t) : 0;

        if (len == 0 || len > 8192)
                return false;
        for (const unsigned char *c = (const unsigned char *)t; *c; c++)
                if (!isgraph(*c))
                        return false;
        return true;
}

int wsctl_server_check(const char *url, hd_error *err)
{
        if (strncmp(url, "https://", 8) != 0 || !url[8] || url[8] == '/')
                return hd_error_set(err, HD_E_INVALID,
                                    "the server must be an https:// URL such as https://hostd.example.org:8443 "
                                    "(a token is never sent in clear)");
        for (const unsigned char *c = (const unsigned char *)url; *c; c++)
                if (!isgraph(*c) || *c == '?' || *c == '#')
                        return hd_error_set(err, HD_E_INVALID, "the server URL must not contain spaces, ? or #");
        return 0;
}

/* The file must be the user's and nobody else's to read or write. */
static int check_private(const char *path, int fd, hd_error *err)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return hd_error_errno(err, HD_E_IO, errno, "%s", path);
        if (!S_ISREG(st.st_mode))
                return hd_error_set(err, HD_E_INVALID, "%s is not a regular file", path);
        if (st.st_uid != geteuid())
                return hd_error_set(err, HD_E_INVALID, "%s belongs to another user: refusing to use it", path);
        if (st.st_mode & 077)
                return hd_error_set(err, HD_E_INVALID,
                                    "%s may be read by others (mode %04o): refusing to use the token in it; "
                                    "chmod 600 it, and revoke the token if somebody else may have read it",
                                    path, (unsigned)(st.st_mode & 07777));
        return 0;
}

int wsctl_config_parse(const char *path, char *text, wsctl_config *c, hd_error *err)
{
        unsigned line = 0;
        hd_error e = {0};
        int r;

        for (char *cursor = text, *key, *val; (r = hd_kv_next(&cursor, &line, &key, &val, &e)) != 0;) {
                char **slot;

                if (r < 0)
                        return hd_error_set(err, HD_E_INVALID, "%s:%s", path, e.message);
                if (strcmp(key, "server") == 0)
                        slot = &c->server;
                else if (strcmp(key, "ca") == 0)
                        slot = &c->ca;
                else if (strcmp(key, "token") == 0)
                        slot = &c->token;
                else
                        return hd_error_set(err, HD_E_INVALID, "%s:%u: unknown key '%.32s' (known: server, ca, token)",
                                            path, line, key);
                if (*slot)
                        return hd_error_set(err, HD_E_INVALID, "%s:%u: '%s' is set twice", path, line, key);
                *slot = hd_strdup(val);
        }
        if (!c->server || !c->token)
                return hd_error_set(err, HD_E_INVALID, "%s: needs both server and token (run wsctl login again)", path);
        if (wsctl_server_check(c->server, err) < 0)
                return hd_error_prefix(err, "%s", path);
        if (c->ca && c->ca[0] != '/')
                return hd_error_set(err, HD_E_INVALID, "%s: ca must be an absolute path", path);
        if (!wsctl_token_text_valid(c->token))
                return hd_error_set(err, HD_E_INVALID, "%s: the token is not usable (run wsctl login again)", path);
        return 0;
}

int wsctl_config_load(wsctl_config *c, hd_error *err)
{
        _cleanup_free_ char *path = wsctl_config_path(wsctl_home()), *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t len;

        *c = (wsctl_config){0};
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : hd_error_errno(err, HD_E_IO, errno, "cannot read %s", path);
        if (check_private(path, fileno(f), err) < 0)
                return -1;
        text = hd_malloc0(CONFIG_MAX + 1);
        len = fread(text, 1, CONFIG_MAX + 1, f);
        if (len > CONFIG_MAX)
                return hd_error_set(err, HD_E_TOO_LARGE, "%s is larger than %d bytes", path, CONFIG_MAX);
        c->path = hd_strdup(path);
        if (wsctl_config_parse(path, text, c, err) < 0) {
                wsctl_config_clear(c);
                return -1;
        }
        explicit_bzero(text, len);
        return 1;
}

int wsctl_config_save(const wsctl_config *c, hd_error *err)
{
        _cleanup_free_ char *path = wsctl_config_path(wsctl_home()), *dir = NULL, *text = NULL;
        int r;

        dir = hd_strdup(path);
        *strrchr(dir, '/') = '\0';
        if (hd_mkdir_p(dir, 0700, err) < 0)
                return -1;
        text = hd_asprintf("# wsctl.conf — written by wsctl login; mode 0600 (the token is a password)\n"
                           "server = %s\n%s%s%stoken = %s\n",
                           c->server, c->ca ? "ca = " : "", c->ca ? c->ca : "", c->ca ? "\n" : "", c->token);
        r = hd_write_file_atomic(path, text, strlen(text), 0600, err);
        explicit_bzero(text, strlen(text));
        return r;
}

int wsctl_config_remove(hd_error *err)
{
        _cleanup_free_ char *path = wsctl_config_path(wsctl_home());

        if (unlink(path) == 0)
                return 1;
        if (errno == ENOENT)
                return 0;
        return hd_error_errno(err, HD_E_IO, errno, "cannot remove %s", path);
}

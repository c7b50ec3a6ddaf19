/* keys.c — the SSH public keys create sends: read from key files (several
 * keys per file allowed), with private keys and garbage refused before they
 * leave the machine. */
#include "tools/wsctl/wsctl.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

#define KEY_FILE_MAX (256 * 1024)

static const char *const key_types[] = {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-"};

static bool looks_like_public_key(const char *line)
{
        const char *space = strchr(line, ' ');

        if (!space || !space[1])
                return false;
        for (size_t i = 0; i < HD_ARRAY_SIZE(key_types); i++)
                if (strncmp(line, key_types[i], strlen(key_types[i])) == 0)
                        return true;
        return false;
}

int wsctl_read_key_file(const char *path, json_t *keys, hd_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t found = 0;
        int lineno = 0;

        if (hd_read_file(path, KEY_FILE_MAX, &data, NULL, err) < 0)
                return hd_error_prefix(err, "SSH key file");
        /* strsep, not strtok: keep empty lines so line numbers stay right. */
        for (char *p = data, *line; (line = strsep(&p, "\n")) != NULL;) {
                size_t n;

                lineno++;
                line += strspn(line, " \t");
                n = strlen(line);
                while (n > 0 && strchr(" \t\r", line[n - 1]))
                        line[--n] = '\0';
                if (n == 0 || line[0] == '#')
                        continue;
                if (strncmp(line, "-----BEGIN", 10) == 0)
                        return hd_error_set(err, HD_E_INVALID,
                                            "%s is a private key: pass the public key instead (%s.pub)", path, path);
                if (!looks_like_public_key(line))
                        return hd_error_set(err, HD_E_INVALID,
                                            "%s line %d is not an SSH public key (expected 'ssh-ed25519 AAAA… comment')",
                                            path, lineno);
                if (json_array_append_new(keys, json_string(line)) < 0)
                        return hd_error_set(err, HD_E_INVALID, "%s line %d is not UTF-8 text", path, lineno);
                found++;
        }
        if (found == 0)
                return hd_error_set(err, HD_E_INVALID, "%s holds no SSH public key", path);
        return 0;
}

char *wsctl_default_key_file(const char *home, hd_error *err)
{
        static const char *const names[] = {"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"};

        for (size_t i = 0; i < HD_ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *path = hd_asprintf("%s/.ssh/%s", home, names[i]);
                if (access(path, F_OK) == 0)
                        return steal_ptr(path);
        }
        hd_error_set(err, HD_E_INVALID,
                     "no SSH public key found in %s/.ssh (id_ed25519.pub, id_ecdsa.pub, id_rsa.pub): "
                     "pass --ssh-key FILE or create one with ssh-keygen -t ed25519",
                     home);
        return NULL;
}

const char *wsctl_home(void)
{
        const char *home = getenv("HOME");
        struct passwd *pw;

        if (home && *home)
                return home;
        pw = getpwuid(getuid());
        return pw && pw->pw_dir ? pw->pw_dir : "/";
}

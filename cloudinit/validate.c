/* validate.c — host names, user names, workspace ids and agent tokens: the
 * plain strings that reach the guest. Messages never echo a string that holds
 * bytes outside the allowed set; they name the offending byte and position. */
#include "cloudinit/internal.h"

#include "common/cleanup.h"

#include <stdio.h>
#include <string.h>

const char *ci_describe_byte(unsigned char c, char buf[16])
{
        if (c > 0x20 && c < 0x7f && c != '\'')
                snprintf(buf, 16, "'%c'", c);
        else if (c == ' ')
                snprintf(buf, 16, "a space");
        else
                snprintf(buf, 16, "byte 0x%02x", c);
        return buf;
}

static bool is_lower_alnum(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int ci_hostname_valid(const char *hostname, hd_error *err)
{
        size_t len, label = 0;
        char d[16];

        if (!hostname || !*hostname)
                return hd_error_set(err, HD_E_INVALID, "hostname is empty");
        len = strlen(hostname);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)hostname[i];
                if (c >= 'A' && c <= 'Z')
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostname has an uppercase letter %s at position %zu; "
                                            "use lowercase letters",
                                            ci_describe_byte(c, d), i + 1);
                if (!is_lower_alnum(c) && c != '-' && c != '.')
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostname has %s at position %zu; only lowercase "
                                            "letters, digits, '-' and '.' are allowed",
                                            ci_describe_byte(c, d), i + 1);
        }
        if (len > 253)
                return hd_error_set(err, HD_E_INVALID,
                                    "hostname is %zu characters long; the limit is 253", len);
        /* Every byte is now [a-z0-9.-], so the name can be quoted safely. */
        for (size_t i = 0; i <= len; i++) {
                if (i < len && hostname[i] != '.') {
                        label++;
                        continue;
                }
                if (label == 0)
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostname \"%.253s\" has an empty label (a leading, "
                                            "trailing or doubled '.')", hostname);
                if (label > 63)
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostname \"%.253s\" has a label of %zu characters; "
                                            "the limit is 63", hostname, label);
                if (hostname[i - label] == '-' || hostname[i - 1] == '-')
                        return hd_error_set(err, HD_E_INVALID,
                                            "hostname \"%.253s\" has a label that starts or ends "
                                            "with '-'", hostname);
                label = 0;
        }
        return 0;
}

/* Debian's static system users and groups (base-passwd) and the system
 * accounts that common packages create: a workspace user with one of these
 * names would collide with the account or its group, or gain its rights. */
static const char *const reserved_names[] = {
        /* base-passwd users */
        "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
        "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody",
        /* base-passwd groups */
        "adm", "tty", "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape",
        "sudo", "audio", "dip", "operator", "src", "shadow", "utmp", "video", "sasl",
        "plugdev", "staff", "users", "nogroup",
        /* accounts and groups of common packages */
        "_apt", "systemd-network", "systemd-resolve", "systemd-timesync", "systemd-coredump",
        "systemd-journal", "messagebus", "sshd", "syslog", "uuidd", "tcpdump", "tss",
        "polkitd", "avahi", "dnsmasq", "ntp", "_chrony", "statd", "crontab", "netdev",
        "input", "kvm", "render", "sgx", "ssl-cert", "lpadmin", "libvirt", "libvirt-qemu",
        "postfix", "postdrop", "docker", "admin", "wheel",
};

int ci_username_valid(const char *username, hd_error *err)
{
        size_t len;
        char d[16];

        if (!username || !*username)
                return hd_error_set(err, HD_E_INVALID, "username is empty");
        len = strlen(username);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)username[i];
                bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
                          (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
                if (!ok)
                        return hd_error_set(err, HD_E_INVALID,
                                            "username has %s at position %zu; a username is a "
                                            "lowercase letter or '_' followed by lowercase "
                                            "letters, digits, '_' or '-'",
                                            ci_describe_byte(c, d), i + 1);
        }
        if (len > 32)
                return hd_error_set(err, HD_E_INVALID,
                                    "username is %zu characters long; the limit is 32", len);
        for (size_t i = 0; i < HD_ARRAY_SIZE(reserved_names); i++)
                if (strcmp(username, reserved_names[i]) == 0)
                        return hd_error_set(err, HD_E_INVALID,
                                            "username \"%s\" is reserved for a system account "
                                            "or group; choose another name", username);
        return 0;
}

/* Is every byte of s in the set allowed (plus alphanumerics)? Reports the first bad one. */
static int check_charset(const char *what, const char *s, const char *extra, hd_error *err)
{
        char d[16];

        for (size_t i = 0; s[i]; i++) {
                unsigned char c = (unsigned char)s[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || (c && strchr(extra, c));
                if (!ok)
                        return hd_error_set(err, HD_E_INVALID,
                                            "%s has %s at position %zu; allowed are letters, "
                                            "digits and \"%s\"",
                                            what, ci_describe_byte(c, d), i + 1, extra);
        }
        return 0;
}

int ci_ident_valid(const char *what, const char *s, hd_error *err)
{
        size_t len;

        if (!s || !*s)
                return hd_error_set(err, HD_E_INVALID, "%s is empty", what);
        if (check_charset(what, s, "._-", err) < 0)
                return -1;
        len = strlen(s);
        if (len > 128)
                return hd_error_set(err, HD_E_INVALID,
                                    "%s is %zu characters long; the limit is 128", what, len);
        if (strchr("._-", s[0]))
                return hd_error_set(err, HD_E_INVALID,
                                    "%s \"%s\" must start with a letter or a digit", what, s);
        return 0;
}

int ci_token_valid(const char *token, hd_error *err)
{
        size_t len;

        if (!token || !*token)
                return hd_error_set(err, HD_E_INVALID, "agent token is empty");
        if (check_charset("agent token", token, "._~+/=-", err) < 0)
                return -1;
        len = strlen(token);
        if (len < 16 || len > 512)
                return hd_error_set(err, HD_E_INVALID,
                                    "agent token is %zu characters long; it must have 16 to "
                                    "512", len);
        return 0;
}

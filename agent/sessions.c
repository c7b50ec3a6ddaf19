/* sessions.c — who is using the workspace: SSH sessions from /proc, logins
 * and terminal input from utmp and the terminals' access times.
 *
 * SSH sessions are counted from processes, not utmp, because sessions with
 * no terminal (`ssh host cmd`, scp, rsync, VS Code's remote server) write no
 * utmp entry. OpenSSH names each session's unprivileged child
 * "sshd: USER@pts/N" or "sshd: USER@notty" ("sshd-session: …" from 9.8 on);
 * any user could name a process that way, so a session counts only when its
 * parent is the root-owned privileged monitor "sshd: USER [priv]" of the
 * same user, which no unprivileged process can fake. */
#include "agent/agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utmpx.h>

#define TITLE_MAX 256

/* The first NUL-terminated string of /proc/PID/cmdline (a process title). */
static int read_title(const char *proc, long pid, char *buf, size_t size)
{
        char path[PATH_MAX];
        _ag_cleanup_close_ int fd = -1;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/%ld/cmdline", proc, pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        do
                n = read(fd, buf, size - 1);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        return 0;
}

/* "Uid:" (real) and "PPid:" of /proc/PID/status. */
static int read_status(const char *proc, long pid, long *uid, long *ppid)
{
        char path[PATH_MAX], buf[4096];

        snprintf(path, sizeof(path), "%s/%ld/status", proc, pid);
        if (ag_read_file(path, buf, sizeof(buf)) < 0)
                return -1;
        *uid = *ppid = -1;
        for (char *line = buf, *nl; line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (strncmp(line, "Uid:", 4) == 0)
                        *uid = strtol(line + 4, NULL, 10);
                else if (strncmp(line, "PPid:", 5) == 0)
                        *ppid = strtol(line + 5, NULL, 10);
        }
        return *uid >= 0 && *ppid >= 0 ? 0 : -1;
}

/* Strip the sshd title prefix; NULL when title is not an sshd process. */
static const char *sshd_rest(const char *title)
{
        if (strncmp(title, "sshd: ", 6) == 0)
                return title + 6;
        if (strncmp(title, "sshd-session: ", 14) == 0)
                return title + 14;
        return NULL;
}

/* Length of the title's trimmed text (setproctitle may pad with spaces). */
static size_t trimmed_len(const char *s)
{
        size_t n = strlen(s);

        while (n > 0 && s[n - 1] == ' ')
                n--;
        return n;
}

/* "USER@TTY": copy USER, true. */
static bool is_session_title(const char *title, char *user, size_t size)
{
        const char *rest = sshd_rest(title), *at;
        size_t n;

        if (!rest)
                return false;
        n = trimmed_len(rest);
        at = memchr(rest, '@', n);
        if (!at || at == rest || at + 1 == rest + n || memchr(rest, ' ', n))
                return false;
        if ((size_t)(at - rest) >= size)
                return false;
        memcpy(user, rest, (size_t)(at - rest));
        user[at - rest] = '\0';
        return true;
}

/* "USER [priv]" for the given USER. */
static bool is_monitor_title(const char *title, const char *user)
{
        const char *rest = sshd_rest(title);
        size_t ulen = strlen(user);

        return rest && strncmp(rest, user, ulen) == 0 && rest[ulen] == ' ' &&
               trimmed_len(rest + ulen + 1) == 6 && strncmp(rest + ulen + 1, "[priv]", 6) == 0;
}

static bool is_real_session(const char *proc, long pid, const char *title)
{
        char user[TITLE_MAX], parent_title[TITLE_MAX];
        long uid, ppid, puid, pppid;

        if (!is_session_title(title, user, sizeof(user)))
                return false;
        if (read_status(proc, pid, &uid, &ppid) < 0 || ppid <= 1)
                return false;
        if (read_status(proc, ppid, &puid, &pppid) < 0 || puid != 0)
                return false;
        return read_title(proc, ppid, parent_title, sizeof(parent_title)) == 0 &&
               is_monitor_title(parent_title, user);
}

static long pid_of(const char *name)
{
        char *end;
        long pid;

        if (name[0] < '1' || name[0] > '9')
                return -1;
        pid = strtol(name, &end, 10);
        return *end == '\0' ? pid : -1;
}

int ag_count_ssh_sessions(const char *proc)
{
        DIR *dir = opendir(proc);
        struct dirent *de;
        int count = 0;

        if (!dir)
                return -1;
        while ((de = readdir(dir))) {
                char title[TITLE_MAX];
                long pid = pid_of(de->d_name);

                if (pid > 0 && read_title(proc, pid, title, sizeof(title)) == 0 &&
                    is_real_session(proc, pid, title))
                        count++;
        }
        closedir(dir);
        return count;
}

/* A utmp ut_line that names a terminal under /dev: "pts/3", "tty1". */
static bool safe_tty_name(const char *line)
{
        if (!line[0] || line[0] == '/' || strstr(line, ".."))
                return false;
        for (const char *c = line; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || strchr("/_.-", *c)))
                        return false;
        return true;
}

static bool process_alive(const char *proc, pid_t pid)
{
        char path[PATH_MAX];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%ld", proc, (long)pid);
        return pid > 0 && stat(path, &st) == 0;
}

#define MAX_USERS 256

int ag_read_logins(const ag_paths *paths, time_t now, int *users, long long *input_age_s)
{
        char path[PATH_MAX], names[MAX_USERS][sizeof(((struct utmpx *)0)->ut_user) + 1];
        int nnames = 0, fd;
        long long best = -1;
        struct utmpx *u;

        *users = 0;
        *input_age_s = -1;
        snprintf(path, sizeof(path), "%s/utmp", paths->run);
        /* glibc's utmp functions hide why a file cannot be read: ask first. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -1;
        close(fd);
        if (utmpxname(path) < 0)
                return -1;
        setutxent();
        while ((u = getutxent())) {
                char name[sizeof(u->ut_user) + 1], line[sizeof(u->ut_line) + 1], tty[PATH_MAX];
                struct stat st;
                bool known = false;

                if (u->ut_type != USER_PROCESS || !process_alive(paths->proc, u->ut_pid))
                        continue;
                memcpy(name, u->ut_user, sizeof(u->ut_user));
                name[sizeof(u->ut_user)] = '\0';
                if (!name[0])
                        continue;
                for (int i = 0; i < nnames && !known; i++)
                        known = strcmp(names[i], name) == 0;
                if (!known && nnames < MAX_USERS)
                        memcpy(names[nnames++], name, sizeof(name));

                memcpy(line, u->ut_line, sizeof(u->ut_line));
                line[sizeof(u->ut_line)] = '\0';
                if (!safe_tty_name(line))
                        continue;
                snprintf(tty, sizeof(tty), "%s/%s", paths->dev, line);
                if (stat(tty, &st) == 0) {
                        long long age = (long long)now - (long long)st.st_atim.tv_sec;
                        if (age < 0)
                                age = 0;
                        if (best < 0 || age < best)
                                best = age;
                }
        }
        endutxent();
        *users = nnames;
        *input_age_s = best;
        return 0;
}

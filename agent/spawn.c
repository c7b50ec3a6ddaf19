/* spawn.c — start a helper program (nvidia-smi, the startup script) the one
 * way the agent does: posix_spawn from an argv and an environment (never a
 * shell), in a process group of its own so that it can be ended whole, with
 * stdin on /dev/null, working folder /, every signal at its default action
 * and none blocked (the agent blocks some for itself). */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>

pid_t ag_spawn(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, dfl;
        pid_t pid = -1;
        int rc;

        sigemptyset(&none);
        sigfillset(&dfl);
        sigdelset(&dfl, SIGKILL);
        sigdelset(&dfl, SIGSTOP);
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        if (err_fd < 0)
                posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        else
                posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
        posix_spawn_file_actions_addchdir_np(&fa, "/");
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &dfl);
        rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
                errno = rc;
                return -1;
        }
        return pid;
}

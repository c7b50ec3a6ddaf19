/* main.c — wsctl's entry point: a context on stdout/stderr, then wsctl_main
 * (cli.c). Kept apart so that tests can drive wsctl_main themselves. */
#include "tools/wsctl/wsctl.h"

int main(int argc, char **argv)
{
        wsctl_ctx ctx = {.out = stdout, .err = stderr, .poll_ms = 1000};
        int rc;

        rc = wsctl_main(&ctx, argc, argv);
        wsctl_http_close(&ctx);
        if (fflush(stdout) != 0 && rc == WSCTL_EXIT_OK)
                rc = WSCTL_EXIT_ERROR;
        return rc;
}

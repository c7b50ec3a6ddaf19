/* daemon.h — hostd's process: run the service until SIGTERM. */
#pragma once

#include "hostd/config.h"

#define HOSTD_VERSION "0.1.0"

/* Open the service, reconcile, start workers, the agent link and the API,
 * then wait for SIGTERM/SIGINT. Returns the process exit status. Running
 * workspaces are left running at shutdown. */
int hostd_run(const hostd_config *cfg);

/* sd_notify-style status to systemd, when started by it. */
void hostd_notify(const char *state);

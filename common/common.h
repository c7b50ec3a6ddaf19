/* common.h — the public header of common/: errors, cleanup, buffers, logging,
 * child programs and file helpers shared by every module. */
#pragma once

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/run.h"
#include "common/units.h"

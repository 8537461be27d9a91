// Status helpers shared by the server.
#pragma once

#include "absl/status/status.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define FLEETRATE_RETURN_IF_ERROR(expr)                               \
  do {                                                                \
    if (absl::Status status_ = (expr); !status_.ok()) return status_; \
  } while (false)

#pragma once
/// @file MPI return codes as exceptions.

#include <mpi.h>

#include <string>

#include "common/Error.h"

namespace tsn::mpi {
[[noreturn]] void throwMpiError(const char* expr, int code, const char* file, int line);
}

/// TSN_CHECK_MPI(call): throws tsn::Error naming the MPI function and MPI's message (the call and
/// file:line go to the debug log).
#define TSN_CHECK_MPI(expr)                                              \
  do {                                                                   \
    const int tsnMpiCode_ = (expr);                                      \
    if (tsnMpiCode_ != MPI_SUCCESS) {                                    \
      ::tsn::mpi::throwMpiError(#expr, tsnMpiCode_, __FILE__, __LINE__); \
    }                                                                    \
  } while (false)

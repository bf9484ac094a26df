#pragma once
/// @file Errors are exceptions that say what failed, where, and on which rank.

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tsn {

/// Any failure tsn-dist reports. The message is one line a user can act on.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A user's configuration is wrong: names the file (or command-line flag), line and key.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A file the program must write could not be written (disk full, quota, read-only file
/// system): names the file and the system's reason. Programs exit with kExitWriteFailed.
class WriteError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void throwCheckFailure(const char* file, int line, const char* expr,
                                    const std::string& message);
/// Logs where a failure was detected (the failed expression, file:line) at debug level under
/// [check]. Users read the exception's message; developers find the place with
/// log.level = "debug". No user-facing message carries a source location.
void logFailureSite(const char* file, int line, const char* expr, const std::string& message);
/// "MPI_Allreduce" of "MPI_Allreduce(a, b, ...)": the library function a failed call named.
std::string calledFunction(const char* expr);
}  // namespace detail

}  // namespace tsn

/// TSN_CHECK(cond, "format {}", args...): throws tsn::Error with the formatted message when cond
/// is false; the condition and file:line go to the debug log (detail::logFailureSite).
#define TSN_CHECK(cond, ...)                                                                 \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      ::tsn::detail::throwCheckFailure(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
    }                                                                                        \
  } while (false)

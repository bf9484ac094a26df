#pragma once
/// @file Running independent pieces of work on a few threads.

#include <cstddef>
#include <functional>

namespace tsn {

/// Calls body(i) for every i in [0, count) on `threads` threads (at least 1), each taking the
/// next index as it finishes one. The first exception a body throws stops the others taking
/// more work and is rethrown here once every thread has ended.
void parallelFor(size_t count, int threads, const std::function<void(size_t)>& body);

}  // namespace tsn

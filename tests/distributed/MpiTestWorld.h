#pragma once
#include "distributed/MpiWorld.h"

namespace tsn::testing {
/// The world of the running multi-rank test binary (set by MpiMain.cpp).
extern MpiWorld* gWorld;
}  // namespace tsn::testing

#include <gtest/gtest.h>

#include "distributed/NcclSupport.h"

namespace tsn {
namespace {

// Needs no GPU: the library this build linked answers with the version of its header.
TEST(NcclSupport, LinkedLibraryMatchesTheHeader) {
  EXPECT_EQ(nccl::runtimeVersion(), nccl::headerVersion());
}

}  // namespace
}  // namespace tsn

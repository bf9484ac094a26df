#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "distributed/NcclSupport.h"

namespace tsn {
namespace {

// Needs no GPU. NCCL keeps its ABI within a major version: a machine's newer 2.x runtime under
// a build against another 2.x header is fine (PyPI's wheels and the toolkit's differ often);
// both versions are recorded in the test's output.
TEST(NcclSupport, LinkedLibraryHasTheHeadersMajorVersion) {
  const std::string runtime = nccl::runtimeVersion(), header = nccl::headerVersion();
  RecordProperty("nccl_runtime", runtime);
  RecordProperty("nccl_header", header);
  std::cout << "NCCL runtime " << runtime << ", header " << header << "\n";
  EXPECT_EQ(runtime.substr(0, runtime.find('.')), header.substr(0, header.find('.')))
      << "runtime " << runtime << " vs header " << header;
}

}  // namespace
}  // namespace tsn

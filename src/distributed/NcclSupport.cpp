#include "distributed/NcclSupport.h"

#include <nccl.h>

#include "common/Error.h"

namespace tsn::nccl {

std::string runtimeVersion() {
  int code = 0;
  const ncclResult_t rc = ncclGetVersion(&code);
  TSN_CHECK(rc == ncclSuccess, "ncclGetVersion failed: {}", ncclGetErrorString(rc));
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return fmt::format("{}.{}.{}", code / 10000, (code % 10000) / 100, code % 100);
}

std::string headerVersion() {
  return fmt::format("{}.{}.{}", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
}

}  // namespace tsn::nccl

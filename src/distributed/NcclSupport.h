#pragma once
/// @file NCCL facts this build links against (TSN_WITH_CUDA builds only).

#include <string>

namespace tsn::nccl {

/// The NCCL library version found at run time, e.g. "2.21.5".
std::string runtimeVersion();

/// The version of the nccl.h this build compiled against.
std::string headerVersion();

}  // namespace tsn::nccl

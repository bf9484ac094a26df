// libFuzzer target: a checkpoint file's bytes through readCheckpoint (zip archive, pickle,
// tensors, every field's type). A CheckpointError (or another tsn::Error) is the expected
// outcome for bad bytes.
#include <cstdint>

#include "FuzzInput.h"
#include "checkpoint/Checkpoint.h"
#include "common/Error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = tsn::fuzz::scratchFile("fuzz_checkpoint", ".pt");
  tsn::fuzz::writeInput(path, data, size);
  try {
    tsn::readCheckpoint(path);
  } catch (const tsn::Error&) {
  }
  return 0;
}

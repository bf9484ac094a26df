// libFuzzer target: a file list (the first byte picks videos or rawframes) through the parser
// and its checks (labels in range, paths kept under the root).
#include <cstdint>

#include "FuzzInput.h"
#include "common/Error.h"
#include "data/FileList.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = tsn::fuzz::scratchFile("fuzz_list", ".txt");
  if (size == 0) return 0;
  const auto format = data[0] % 2 == 0 ? tsn::DataFormat::Video : tsn::DataFormat::Rawframes;
  tsn::fuzz::writeInput(path, data + 1, size - 1);
  try {
    const auto samples = tsn::readFileList(path, format, "/data/root", 400);
    tsn::fileListHash(samples);
  } catch (const tsn::Error&) {
  }
  return 0;
}

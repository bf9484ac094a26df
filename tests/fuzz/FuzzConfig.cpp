// libFuzzer target: TOML text through the config parser, its schema checks and the resolved
// dump (which loadConfig must read back).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/Error.h"
#include "config/Config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  tsn::Config config;
  try {
    config = tsn::parseConfig(text, "fuzz.toml");
  } catch (const tsn::Error&) {
    return 0;
  }
  // A config that parsed dumps to TOML that parses to the same config.
  const std::string dumped = tsn::toToml(config);
  const tsn::Config again = tsn::parseConfig(dumped, "dumped.toml");
  if (tsn::toToml(again) != dumped) std::abort();
  return 0;
}

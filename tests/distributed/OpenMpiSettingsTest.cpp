// tsn-dist's Open MPI settings (src/distributed/OpenMpiSettings.h): parsed from
// launcher/multinode.mca, applied before MPI_Init unless the environment sets them, and in force.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/Error.h"
#include "distributed/MpiTestWorld.h"
#include "distributed/OpenMpiSettings.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

TEST(OpenMpiSettings, ParsesNameValueLinesAndNamesABadLine) {
  const auto params = parseMcaParams("# comment\n\n a_b = 1  # why\nbtl_x=4194304\n", "f.mca");
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0], (std::pair<std::string, std::string>{"a_b", "1"}));
  EXPECT_EQ(params[1], (std::pair<std::string, std::string>{"btl_x", "4194304"}));
  try {
    parseMcaParams("a = 1\nthis is not one\n", "f.mca");
    FAIL() << "a bad line was taken";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("f.mca:2: expected 'name = value'"));
  }
}

TEST(OpenMpiSettings, TheCompiledInDefaultsAreLauncherMultinodeMca) {
  std::ifstream in(std::string(TSN_SOURCE_DIR) + "/launcher/multinode.mca");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(openMpiDefaults(), parseMcaParams(text, "multinode.mca"));
  EXPECT_GE(openMpiDefaults().size(), 3u);
}

TEST(OpenMpiSettings, EveryRankRunsWithThemAndTheEnvironmentWins) {
  // This process applied them before MPI_Init (MpiWorld): each is in force as asked for.
  const auto& settings = testing::gWorld->mcaSettings();
  ASSERT_EQ(settings.size(), openMpiDefaults().size());
  for (size_t i = 0; i < settings.size(); ++i) {
    const auto& [name, value] = openMpiDefaults()[i];
    EXPECT_EQ(settings[i].name, name);
    const char* env = std::getenv(("OMPI_MCA_" + name).c_str());
    ASSERT_NE(env, nullptr) << name;  // set by MpiWorld where the environment had none
    EXPECT_EQ(settings[i].value, env) << name;
    EXPECT_EQ(settings[i].inForce, settings[i].value) << name;
  }
  // A variable the environment sets is kept, and named as the source.
  const auto& [name, value] = openMpiDefaults().front();
  const std::string variable = "OMPI_MCA_" + name;
  const std::string before = std::getenv(variable.c_str());
  setenv(variable.c_str(), "7", 1);
  const auto applied = applyOpenMpiDefaults();
  EXPECT_EQ(std::getenv(variable.c_str()), std::string("7"));
  EXPECT_EQ(applied.front().value, "7");
  EXPECT_EQ(applied.front().source, "environment (" + variable + ")");
  EXPECT_THAT(describe(applied), HasSubstr(name + " = 7 (environment (" + variable + "); "));
  setenv(variable.c_str(), before.c_str(), 1);
}

}  // namespace
}  // namespace tsn

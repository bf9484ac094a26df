#include "support/TestSupport.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/Error.h"
#include "synth/SyntheticDataset.h"

namespace tsn::testing {

namespace {

/// Where temporary directories go: build/test_tmp, or $TSN_TEST_TMPDIR where the tests run
/// away from their build (the GPU check runs them from gpu-bundle/ on another machine).
std::filesystem::path tempRoot() {
  const char* dir = std::getenv("TSN_TEST_TMPDIR");
  return dir != nullptr && *dir != 0 ? std::filesystem::path(dir)
                                     : std::filesystem::path(TSN_BINARY_DIR) / "test_tmp";
}

/// Asks `done` every 20 ms for up to `seconds`; whether it said yes.
template <typename Done>
bool pollFor(double seconds, Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

TempDir::TempDir(const std::string& name)
    // The pid keeps test processes that CTest runs in parallel out of each other's way.
    : path_(tempRoot() / (name + "." + std::to_string(getpid()))) {
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  TSN_CHECK(pipe != nullptr, "cannot run {}", command);
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

Background::Background(const std::string& command, const std::filesystem::path& output)
    : output_(output) {
  pid_ = fork();
  TSN_CHECK(pid_ >= 0, "cannot fork for {}", command);
  if (pid_ == 0) {
    setpgid(0, 0);
    const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid_, pid_);  // also here: no race with the child's own call
}

Background::~Background() {
  if (ended_) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
}

void Background::signal(int signal) const {
  ::kill(pid_, signal);
}

int Background::waitFor(double seconds) {
  int status = -1;
  pollFor(seconds, [&] {
    int reaped = 0;
    if (!ended_ && waitpid(pid_, &reaped, WNOHANG) == pid_) {
      ended_ = true;
      status = reaped;
    }
    return ended_;
  });
  return status;
}

std::string Background::output() const {
  std::ifstream in(output_);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool Background::waitForOutput(const std::string& text, double seconds) {
  const auto printed = [&] { return output().find(text) != std::string::npos; };
  // Until it is printed or the program ended (seen without reaping it, which is waitFor's).
  pollFor(seconds, [&] {
    siginfo_t info{};
    return printed() || ended_ ||
           (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0);
  });
  return printed();
}

bool waitForFile(const std::filesystem::path& path, double seconds) {
  return pollFor(seconds, [&] { return std::filesystem::exists(path); });
}

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::filesystem::path syntheticDataset(const std::filesystem::path& dir, int classes,
                                       int videosPerClass, int frames, int gop) {
  if (!std::filesystem::exists(dir / "val.list")) {
    synth::Options o;
    o.outDir = dir.string();
    o.classes = classes;
    o.videosPerClass = videosPerClass;
    o.valFraction = 0.25;
    o.seed = 7;
    o.fps = 10;
    o.seconds = frames / 10.0;
    o.gop = gop;
    synth::makeDataset(o);
  }
  return dir;
}

std::string syntheticDataSection(const std::filesystem::path& data) {
  return fmt::format(R"([data]
root = "{0}"
train_list = "{0}/train.list"
val_list = "{0}/val.list"
short_size = 40
target_size = 32
workers = 1
)",
                     data.string());
}

std::string binary(const std::string& name) {
  return (std::filesystem::path(TSN_BINARY_DIR) / "bin" / name).string();
}

}  // namespace tsn::testing

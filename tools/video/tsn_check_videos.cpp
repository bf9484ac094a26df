// tsn_check_videos --list F: opens every video of a file list in parallel, decodes its first
// and last frame, and reports the unreadable ones by reason (and, as information, the videos that
// start between keyframes); optionally writes a cleaned list.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "common/AbandonableThread.h"
#include "common/Error.h"
#include "common/Main.h"
#include "common/Parallel.h"
#include "data/FileList.h"
#include "video/AvError.h"
#include "video/VideoReader.h"

namespace {

struct Options {
  std::string list, root, cleaned;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double timeout = 30;
  bool json = false;
  tsn::ReaderOptions reader;
};

/// What checking one video found: why it cannot be read (empty error for a readable one), and
/// how many leading packets decode to nothing (information, not damage).
struct Checked {
  std::string error, reason;
  int64_t leadingPacketsDropped = 0;
};

std::vector<Checked> check(const std::vector<tsn::VideoSample>& samples, const Options& o) {
  std::vector<Checked> results(samples.size());
  tsn::parallelFor(samples.size(), o.jobs, [&](size_t i) {
    // Each check on a thread that can be given up on: a file on a stalled file system blocks
    // in open() or read() where no deadline reaches.
    thread_local tsn::AbandonableThread thread;
    const std::string path = samples[i].path;
    const tsn::ReaderOptions options = o.reader;
    tsn::AbandonableThread::Outcome outcome{};
    try {
      const auto dropped = thread.call<int64_t>(
          [path, options] {
            tsn::VideoReader reader(path, options);
            reader.decode({0, reader.info().numFrames - 1}, 0);
            return reader.info().leadingPacketsDropped;
          },
          o.timeout > 0 ? o.timeout + 1 : 0, nullptr, &outcome);
      if (!dropped) {
        throw tsn::VideoError(tsn::VideoFailure::Timeout,
                              fmt::format("{}: not read within --timeout {} s: stuck in a system "
                                          "call (a stalled file system, or a file that blocks)",
                                          path, o.timeout));
      }
      results[i].leadingPacketsDropped = *dropped;
    } catch (const std::exception& e) {
      results[i].error = e.what();
      results[i].reason = tsn::failureReason(e);
    }
  });
  return results;
}

/// The report (text or JSON) and the cleaned list, which keeps the readable entries' lines as
/// written. Returns how many videos are unreadable.
size_t report(const std::vector<tsn::VideoSample>& samples, const std::vector<Checked>& results,
              const Options& o) {
  std::vector<std::string> lines;
  {
    std::ifstream in(o.list);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  std::map<std::string, int64_t> byReason;
  nlohmann::json bad = nlohmann::json::array();
  std::ofstream clean;
  if (!o.cleaned.empty()) clean.open(o.cleaned);
  nlohmann::json trimmed = nlohmann::json::array();
  int64_t leadingDropped = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& [error, reason, dropped] = results[i];
    if (error.empty()) {
      if (clean.is_open()) clean << lines[samples[i].line - 1] << '\n';
      if (dropped > 0) {
        trimmed.push_back({{"path", samples[i].path}, {"leading_packets_dropped", dropped}});
        leadingDropped += dropped;
      }
      continue;
    }
    ++byReason[reason];
    bad.push_back({{"path", samples[i].path}, {"reason", reason}, {"error", error}});
  }
  if (o.json) {
    const nlohmann::json j = {{"list", o.list},
                              {"videos", samples.size()},
                              {"unreadable", bad.size()},
                              {"by_reason", byReason},
                              {"failures", bad},
                              {"leading_packets_dropped", leadingDropped},
                              {"start_between_keyframes", trimmed}};
    std::cout << j.dump(2) << std::endl;
    return bad.size();
  }
  std::cout << fmt::format("{}: {} videos, {} unreadable\n", o.list, samples.size(), bad.size());
  for (const auto& [reason, n] : byReason) std::cout << fmt::format("  {:>6}  {}\n", n, reason);
  if (!trimmed.empty()) {
    std::cout << fmt::format(
        "{} readable video{} start{} between keyframes: {} leading packets decode to nothing "
        "(not frames, not damage)\n",
        trimmed.size(), trimmed.size() > 1 ? "s" : "", trimmed.size() > 1 ? "" : "s",
        leadingDropped);
  }
  for (const auto& b : bad) {
    std::cout << "  " << b["path"].get<std::string>() << ": " << b["error"].get<std::string>()
              << "\n";
  }
  if (!o.cleaned.empty()) std::cout << "cleaned list: " << o.cleaned << "\n";
  return bad.size();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Find unreadable videos in a file list"};
  Options o;
  app.add_option("--list", o.list, "file list: 'path label' per line")->required();
  app.add_option("--root", o.root, "directory the listed paths are relative to");
  app.add_option("--jobs", o.jobs, "parallel readers")->capture_default_str();
  app.add_option("--timeout", o.timeout, "seconds per video")->capture_default_str();
  app.add_option("--containers", o.reader.containers,
                 "containers allowed (FFmpeg demuxer names, comma-separated; empty: all)")
      ->capture_default_str();
  app.add_option("--write-clean", o.cleaned, "write the list without the unreadable videos here");
  app.add_flag("--json", o.json, "print JSON");
  CLI11_PARSE(app, argc, argv);
  o.reader.timeoutS = o.timeout;
  o.reader.containersSetting = "--containers";

  const int code = tsn::runMain("tsn_check_videos", [&] {
    // The list as the loader reads it (format, labels, paths inside the root), any label.
    const auto samples = tsn::readFileList(o.list, tsn::DataFormat::Video, o.root, INT64_MAX);
    return report(samples, check(samples, o), o) == 0 ? tsn::kExitOk : 3;
  });
  return tsn::leaveProcess(code);
}

// tsn_check_videos --list F: opens every video of a file list in parallel, decodes its first
// and last frame, and reports the unreadable ones by reason; optionally writes a cleaned list.
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

int main(int argc, char** argv) {
  CLI::App app{"Find unreadable videos in a file list"};
  std::string list, root, cleaned;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double timeout = 30;
  bool json = false;
  app.add_option("--list", list, "file list: 'path label' per line")->required();
  app.add_option("--root", root, "directory the listed paths are relative to");
  app.add_option("--jobs", jobs, "parallel readers")->capture_default_str();
  app.add_option("--timeout", timeout, "seconds per video")->capture_default_str();
  tsn::ReaderOptions options;
  app.add_option("--containers", options.containers,
                 "containers allowed (FFmpeg demuxer names, comma-separated; empty: all)")
      ->capture_default_str();
  app.add_option("--write-clean", cleaned, "write the list without the unreadable videos here");
  app.add_flag("--json", json, "print JSON");
  CLI11_PARSE(app, argc, argv);

  const int code = tsn::runMain("tsn_check_videos", [&] {
    // The list as the loader reads it (format, labels, paths inside the root), any label.
    const auto samples = tsn::readFileList(list, tsn::DataFormat::Video, root, INT64_MAX);
    std::vector<std::string> failure(samples.size()), reason(samples.size());
    options.timeoutS = timeout;
    options.containersSetting = "--containers";
    tsn::parallelFor(samples.size(), jobs, [&](size_t i) {
      // Each check on a thread that can be given up on: a file on a stalled file system
      // blocks in open() or read() where no deadline reaches.
      thread_local tsn::AbandonableThread thread;
      const std::string path = samples[i].path;
      tsn::AbandonableThread::Outcome outcome{};
      try {
        const auto checked = thread.call<bool>(
            [path, options] {
              tsn::VideoReader reader(path, options);
              reader.decode({0, reader.info().numFrames - 1}, 0);
              return true;
            },
            timeout > 0 ? timeout + 1 : 0, nullptr, &outcome);
        if (!checked) {
          throw tsn::VideoError(tsn::VideoFailure::Timeout,
                                fmt::format("{}: not read within --timeout {} s: stuck in a "
                                            "system call (a stalled file system, or a file that "
                                            "blocks)",
                                            path, timeout));
        }
      } catch (const std::exception& e) {
        failure[i] = e.what();
        reason[i] = tsn::failureReason(e);
      }
    });
    // The cleaned list keeps the readable entries' lines as written.
    std::vector<std::string> lines;
    {
      std::ifstream in(list);
      for (std::string line; std::getline(in, line);) lines.push_back(line);
    }

    std::map<std::string, int64_t> byReason;
    nlohmann::json bad = nlohmann::json::array();
    std::ofstream clean;
    if (!cleaned.empty()) clean.open(cleaned);
    for (size_t i = 0; i < samples.size(); ++i) {
      if (failure[i].empty()) {
        if (clean.is_open()) clean << lines[samples[i].line - 1] << '\n';
        continue;
      }
      ++byReason[reason[i]];
      bad.push_back({{"path", samples[i].path}, {"reason", reason[i]}, {"error", failure[i]}});
    }
    const nlohmann::json report = {{"list", list},
                                   {"videos", samples.size()},
                                   {"unreadable", bad.size()},
                                   {"by_reason", byReason},
                                   {"failures", bad}};
    if (json) {
      std::cout << report.dump(2) << std::endl;
    } else {
      std::cout << fmt::format("{}: {} videos, {} unreadable\n", list, samples.size(), bad.size());
      for (const auto& [reason, n] : byReason) std::cout << fmt::format("  {:>6}  {}\n", n, reason);
      for (const auto& b : bad) {
        std::cout << "  " << b["path"].get<std::string>() << ": " << b["error"].get<std::string>()
                  << "\n";
      }
      if (!cleaned.empty()) std::cout << "cleaned list: " << cleaned << "\n";
    }
    return bad.empty() ? tsn::kExitOk : 3;
  });
  return tsn::leaveProcess(code);
}

// tsn_check_videos --list F: opens every video of a file list in parallel, decodes its first
// and last frame, and reports the unreadable ones by reason; optionally writes a cleaned list.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "common/Error.h"
#include "common/Main.h"
#include "common/Strings.h"
#include "data/ClipLoader.h"
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
  app.add_option("--write-clean", cleaned, "write the list without the unreadable videos here");
  app.add_flag("--json", json, "print JSON");
  CLI11_PARSE(app, argc, argv);

  return tsn::runMain("tsn_check_videos", [&] {
    // Lines as written (kept verbatim in the cleaned list) and the path each names.
    std::ifstream in(list);
    if (!in) throw tsn::ConfigError(list + ": cannot open file list");
    std::vector<std::pair<std::string, std::string>> entries;
    std::string line;
    while (std::getline(in, line)) {
      const std::string text = tsn::trim(line.substr(0, line.find('#')));
      if (text.empty()) continue;
      const std::string path = text.substr(0, text.find_first_of(" \t"));
      entries.emplace_back(line,
                           root.empty() ? path : (std::filesystem::path(root) / path).string());
    }

    std::vector<std::string> failure(entries.size());
    std::atomic<size_t> next{0};
    const auto work = [&] {
      tsn::ReaderOptions options;
      options.timeoutS = timeout;
      for (size_t i = next++; i < entries.size(); i = next++) {
        try {
          tsn::VideoReader reader(entries[i].second, options);
          reader.decode({0, reader.info().numFrames - 1}, 0);
        } catch (const std::exception& e) {
          failure[i] = e.what();
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < std::max(1, jobs); ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();

    std::map<std::string, int64_t> byReason;
    nlohmann::json bad = nlohmann::json::array();
    std::ofstream clean;
    if (!cleaned.empty()) clean.open(cleaned);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (failure[i].empty()) {
        if (clean.is_open()) clean << entries[i].first << '\n';
        continue;
      }
      const std::string reason = tsn::failureReason(failure[i]);
      ++byReason[reason];
      bad.push_back({{"path", entries[i].second}, {"reason", reason}, {"error", failure[i]}});
    }
    const nlohmann::json report = {{"list", list},
                                   {"videos", entries.size()},
                                   {"unreadable", bad.size()},
                                   {"by_reason", byReason},
                                   {"failures", bad}};
    if (json) {
      std::cout << report.dump(2) << std::endl;
    } else {
      std::cout << fmt::format("{}: {} videos, {} unreadable\n", list, entries.size(), bad.size());
      for (const auto& [reason, n] : byReason) std::cout << fmt::format("  {:>6}  {}\n", n, reason);
      for (const auto& b : bad) {
        std::cout << "  " << b["path"].get<std::string>() << ": " << b["error"].get<std::string>()
                  << "\n";
      }
      if (!cleaned.empty()) std::cout << "cleaned list: " << cleaned << "\n";
    }
    return bad.empty() ? tsn::kExitOk : 3;
  });
}

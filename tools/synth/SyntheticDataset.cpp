#include "synth/SyntheticDataset.h"

#include <opencv2/imgproc.hpp>

#include <atomic>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/Error.h"
#include "video/VideoWriter.h"

namespace tsn::synth {
namespace {

namespace fs = std::filesystem;

cv::Scalar hsvToRgb(double hueDegrees, double saturation, double value) {
  cv::Mat hsv(
      1, 1, CV_8UC3,
      cv::Scalar(std::fmod(hueDegrees + 360.0, 360.0) / 2.0, saturation * 255, value * 255));
  cv::Mat rgb;
  cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
  const auto p = rgb.at<cv::Vec3b>(0, 0);
  return {double(p[0]), double(p[1]), double(p[2])};
}

/// Position of a point moving with constant velocity, bouncing inside [lo, hi].
double bounce(double start, double velocity, int t, double lo, double hi) {
  const double span = hi - lo;
  if (span <= 0) return lo;
  double x = std::fmod(start - lo + velocity * t, 2 * span);
  if (x < 0) x += 2 * span;
  return lo + (x <= span ? x : 2 * span - x);
}

void drawShape(cv::Mat& frame, int shape, cv::Point2d centre, double r, const cv::Scalar& color) {
  const cv::Point c(cvRound(centre.x), cvRound(centre.y));
  const int ri = std::max(2, cvRound(r));
  if (shape == 0) {
    cv::rectangle(frame, c - cv::Point(ri, ri), c + cv::Point(ri, ri), color, cv::FILLED,
                  cv::LINE_AA);
  } else if (shape == 1) {
    cv::circle(frame, c, ri, color, cv::FILLED, cv::LINE_AA);
  } else {
    const std::vector<cv::Point> triangle = {c + cv::Point(0, -ri), c + cv::Point(ri, ri),
                                             c + cv::Point(-ri, ri)};
    cv::fillConvexPoly(frame, triangle, color, cv::LINE_AA);
  }
}

}  // namespace

VideoSpec makeVideoSpec(int classId, int numClasses, int videoIndex, uint64_t seed, int width,
                        int height) {
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(classId) * 7919ULL +
                      static_cast<uint64_t>(videoIndex) * 104729ULL + 17);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto jitter = [&](double amount) { return (u(rng) * 2 - 1) * amount; };

  VideoSpec s;
  s.classId = classId;
  s.width = width;
  s.height = height;
  s.shape = classId % 3;
  // Hues spread around the circle; shapes cycle, so neighbouring hues differ in shape too.
  const double hue = 360.0 * classId / numClasses + jitter(360.0 / numClasses / 6);
  s.color = hsvToRgb(hue, 0.85 + jitter(0.1), 0.85 + jitter(0.1));
  s.radius = height * (0.16 + jitter(0.03));
  s.start = {s.radius + u(rng) * (width - 2 * s.radius),
             s.radius + u(rng) * (height - 2 * s.radius)};
  const double direction = 2 * M_PI * classId / numClasses + jitter(0.2);
  const double speed = height * (0.012 + jitter(0.004));
  s.velocity = {speed * std::cos(direction), speed * std::sin(direction)};
  const double bgHue = u(rng) * 360;
  s.background[0] = hsvToRgb(bgHue, 0.15 + jitter(0.1), 0.35 + jitter(0.15));
  s.background[1] = hsvToRgb(bgHue + 40, 0.15 + jitter(0.1), 0.55 + jitter(0.15));
  s.distractorStart = {u(rng) * width, u(rng) * height};
  s.distractorVelocity = {jitter(2.0), jitter(2.0)};
  s.noiseSigma = 4 + u(rng) * 4;
  s.noiseSeed = rng();
  return s;
}

cv::Mat renderFrame(const VideoSpec& s, int t) {
  cv::Mat frame(s.height, s.width, CV_8UC3);
  for (int y = 0; y < s.height; ++y) {
    const double a = static_cast<double>(y) / std::max(1, s.height - 1);
    frame.row(y).setTo(s.background[0] * (1 - a) + s.background[1] * a);
  }
  const double dr = s.radius * 0.6;
  const cv::Point2d distractor(
      bounce(s.distractorStart.x, s.distractorVelocity.x, t, dr, s.width - dr),
      bounce(s.distractorStart.y, s.distractorVelocity.y, t, dr, s.height - dr));
  cv::circle(frame, distractor, cvRound(dr), cv::Scalar(128, 128, 128), cv::FILLED, cv::LINE_AA);
  const cv::Point2d centre(bounce(s.start.x, s.velocity.x, t, s.radius, s.width - s.radius),
                           bounce(s.start.y, s.velocity.y, t, s.radius, s.height - s.radius));
  drawShape(frame, s.shape, centre, s.radius, s.color);
  cv::Mat noise(frame.size(), CV_16SC3);
  cv::RNG rng(s.noiseSeed + static_cast<uint64_t>(t));
  rng.fill(noise, cv::RNG::NORMAL, 0, s.noiseSigma);
  cv::Mat noisy;
  frame.convertTo(noisy, CV_16SC3);
  noisy += noise;
  noisy.convertTo(frame, CV_8UC3);
  return frame;
}

Summary makeDataset(const Options& o) {
  TSN_CHECK(o.classes >= 2, "--classes must be >= 2, got {}", o.classes);
  TSN_CHECK(o.videosPerClass >= 2, "--videos-per-class must be >= 2, got {}", o.videosPerClass);
  TSN_CHECK(o.valFraction > 0 && o.valFraction < 1, "--val-fraction must be in (0, 1)");
  TSN_CHECK(o.width % 2 == 0 && o.height % 2 == 0 && o.width >= 32 && o.height >= 32,
            "--width/--height must be even and >= 32, got {}x{}", o.width, o.height);
  const int frames = std::max(1, static_cast<int>(std::lround(o.seconds * o.fps)));
  const int valPerClass =
      std::max(1, static_cast<int>(std::lround(o.videosPerClass * o.valFraction)));

  struct Job {
    int classId;
    int index;
    std::string relative;
  };
  std::vector<Job> jobs;
  Summary summary;
  summary.framesPerVideo = frames;
  for (int c = 0; c < o.classes; ++c) {
    summary.classNames.push_back(fmt::format("class_{:02d}", c));
    fs::create_directories(fs::path(o.outDir) / "videos" / summary.classNames.back());
    for (int v = 0; v < o.videosPerClass; ++v) {
      jobs.push_back(
          {c, v, fmt::format("videos/{0}/{0}_{1:04d}.mp4", summary.classNames.back(), v)});
    }
  }

  VideoWriterOptions writerOptions;
  writerOptions.width = o.width;
  writerOptions.height = o.height;
  writerOptions.fps = o.fps;
  writerOptions.gop = o.gop;
  writerOptions.maxBFrames = o.maxBFrames;

  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex errorMutex;
  const auto work = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      try {
        const Job& job = jobs[i];
        const VideoSpec spec =
            makeVideoSpec(job.classId, o.classes, job.index, o.seed, o.width, o.height);
        VideoWriter writer((fs::path(o.outDir) / job.relative).string(), writerOptions);
        for (int t = 0; t < frames; ++t) writer.write(renderFrame(spec, t));
        writer.close();
      } catch (...) {
        std::lock_guard lock(errorMutex);
        if (!error) error = std::current_exception();
        next = jobs.size();
      }
    }
  };
  const int threads = o.jobs > 0 ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  std::ofstream train(fs::path(o.outDir) / "train.list");
  std::ofstream val(fs::path(o.outDir) / "val.list");
  std::ofstream names(fs::path(o.outDir) / "classes.txt");
  for (const auto& name : summary.classNames) names << name << '\n';
  for (const Job& job : jobs) {
    const bool isVal = job.index < valPerClass;
    (isVal ? val : train) << job.relative << ' ' << job.classId << '\n';
    ++(isVal ? summary.valVideos : summary.trainVideos);
  }
  TSN_CHECK(train.good() && val.good() && names.good(), "{}: cannot write the file lists",
            o.outDir);
  return summary;
}

}  // namespace tsn::synth

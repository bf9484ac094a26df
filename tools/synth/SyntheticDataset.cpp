#include "synth/SyntheticDataset.h"

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "common/Error.h"
#include "common/Parallel.h"
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
  // Primes that keep every (seed, class, video) apart. Changing them changes every generated
  // set, and with it every figure measured on one.
  constexpr uint64_t kSeedStride = 1000003, kClassStride = 7919, kVideoStride = 104729;
  std::mt19937_64 rng(seed * kSeedStride + static_cast<uint64_t>(classId) * kClassStride +
                      static_cast<uint64_t>(videoIndex) * kVideoStride + 17);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto jitter = [&](double amount) { return (u(rng) * 2 - 1) * amount; };

  VideoSpec s;
  s.classId = classId;
  s.width = width;
  s.height = height;
  // Neighbouring classes differ in hue (360/K degrees apart, a twelfth of that jitter), in
  // brightness (odd classes darker) and in shape (three shapes cycle); classes two apart still
  // differ in hue by 2 x 360/K and in shape.
  s.shape = classId % 3;
  const double hue = 360.0 * classId / numClasses + jitter(360.0 / numClasses / 12);
  const double value = (classId % 2 == 0 ? 0.95 : 0.6) + jitter(0.04);
  s.color = hsvToRgb(hue, 0.9 + jitter(0.05), value);
  // About half the frame's height across, so it stays several pixels wide after the network's
  // stem at the demo's 56 px crops.
  s.radius = height * (0.24 + jitter(0.02));
  s.start = {s.radius + u(rng) * (width - 2 * s.radius),
             s.radius + u(rng) * (height - 2 * s.radius)};
  // Each class moves its own way; the fading trail behind the object (renderFrame) shows the
  // direction in every single frame, so motion is a cue a frame-level network can use.
  const double direction = 2 * M_PI * classId / numClasses + jitter(0.15);
  const double speed = height * (0.02 + jitter(0.004));
  s.velocity = {speed * std::cos(direction), speed * std::sin(direction)};
  // A dim, nearly grey background, so the object's colour stands out.
  const double bgHue = u(rng) * 360;
  s.background[0] = hsvToRgb(bgHue, 0.08 + jitter(0.05), 0.3 + jitter(0.08));
  s.background[1] = hsvToRgb(bgHue + 40, 0.08 + jitter(0.05), 0.45 + jitter(0.08));
  s.distractorStart = {u(rng) * width, u(rng) * height};
  s.distractorVelocity = {jitter(2.0), jitter(2.0)};
  s.noiseSigma = 2 + u(rng) * 3;
  s.noiseSeed = rng();
  return s;
}

cv::Mat renderFrame(const VideoSpec& s, int t) {
  cv::Mat frame(s.height, s.width, CV_8UC3);
  for (int y = 0; y < s.height; ++y) {
    const double a = static_cast<double>(y) / std::max(1, s.height - 1);
    frame.row(y).setTo(s.background[0] * (1 - a) + s.background[1] * a);
  }
  const double dr = s.radius * 0.5;
  const cv::Point2d distractor(
      bounce(s.distractorStart.x, s.distractorVelocity.x, t, dr, s.width - dr),
      bounce(s.distractorStart.y, s.distractorVelocity.y, t, dr, s.height - dr));
  cv::circle(frame, distractor, cvRound(dr), cv::Scalar(128, 128, 128), cv::FILLED, cv::LINE_AA);
  const auto centreAt = [&](int time) {
    return cv::Point2d(bounce(s.start.x, s.velocity.x, time, s.radius, s.width - s.radius),
                       bounce(s.start.y, s.velocity.y, time, s.radius, s.height - s.radius));
  };
  // The trail: where the object was 6, 4 and 2 frames ago, fading in.
  for (const int back : {6, 4, 2}) {
    cv::Mat ghost = frame.clone();
    drawShape(ghost, s.shape, centreAt(t - back), s.radius * 0.8, s.color);
    const double opacity = 0.15 * (8 - back) / 2.0;
    cv::addWeighted(ghost, opacity, frame, 1 - opacity, 0, frame);
  }
  drawShape(frame, s.shape, centreAt(t), s.radius, s.color);
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

  parallelFor(jobs.size(),
              o.jobs > 0 ? o.jobs : static_cast<int>(std::thread::hardware_concurrency()),
              [&](size_t i) {
                const Job& job = jobs[i];
                const VideoSpec spec =
                    makeVideoSpec(job.classId, o.classes, job.index, o.seed, o.width, o.height);
                VideoWriter writer((fs::path(o.outDir) / job.relative).string(), writerOptions);
                for (int t = 0; t < frames; ++t) writer.write(renderFrame(spec, t));
                writer.close();
              });

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

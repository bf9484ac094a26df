// An LD_PRELOAD library for tests: chosen files block inside open() or read(), as files on a
// stalled network file system do, where no deadline of FFmpeg's or ours can reach. Nothing in
// tsn-dist knows of it.
//   TSN_STALL_OPEN=S          open() of a path containing S blocks ...
//   TSN_STALL_OPEN_AFTER=N    ... after the first N such opens went through (default 0)
//   TSN_STALL_READ=S          read() of a file whose path contains S blocks once
//   TSN_STALL_READ_AFTER=B    B bytes were read from it (default 0)
//   TSN_STALL_SECONDS=T       a blocked call goes on after T seconds (default 300): bounded
//   TSN_STALL_MARK=F          a line is appended to F each time a call starts blocking
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kMaxFd = 65536;
std::atomic<long long> gReadFrom[kMaxFd];  // bytes read from a watched fd; -1: not watched
std::atomic<int> gOpens{0};
std::atomic<bool> gInitialised{false};

const char* setting(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != 0 ? value : nullptr;
}

long long number(const char* name, long long fallback) {
  const char* value = setting(name);
  return value != nullptr ? std::atoll(value) : fallback;
}

void initialise() {
  if (gInitialised.exchange(true)) return;
  for (auto& fd : gReadFrom) fd.store(-1);
}

void stall(const char* what, const char* path) {
  if (const char* mark = setting("TSN_STALL_MARK")) {
    if (FILE* f = std::fopen(mark, "a")) {
      std::fprintf(f, "%s %s\n", what, path != nullptr ? path : "");
      std::fclose(f);
    }
  }
  const long long tenths = number("TSN_STALL_SECONDS", 300) * 10;
  for (long long i = 0; i < tenths; ++i) usleep(100000);
}

bool matches(const char* path, const char* variable) {
  const char* pattern = setting(variable);
  return pattern != nullptr && path != nullptr && std::strstr(path, pattern) != nullptr;
}

int opened(int fd, const char* path) {
  if (fd >= 0 && fd < kMaxFd && matches(path, "TSN_STALL_READ")) gReadFrom[fd].store(0);
  return fd;
}

int beforeOpen(const char* path) {
  initialise();
  if (matches(path, "TSN_STALL_OPEN") && gOpens++ >= number("TSN_STALL_OPEN_AFTER", 0)) {
    stall("open", path);
  }
  return 0;
}

template <class Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

mode_t modeOf(int flags, va_list args) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(args, mode_t) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = modeOf(flags, args);
  va_end(args);
  beforeOpen(path);
  static const auto fn = real<int (*)(const char*, int, ...)>("open");
  return opened(fn(path, flags, mode), path);
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = modeOf(flags, args);
  va_end(args);
  beforeOpen(path);
  static const auto fn = real<int (*)(const char*, int, ...)>("open64");
  return opened(fn(path, flags, mode), path);
}

int openat(int dir, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = modeOf(flags, args);
  va_end(args);
  beforeOpen(path);
  static const auto fn = real<int (*)(int, const char*, int, ...)>("openat");
  return opened(fn(dir, path, flags, mode), path);
}

int openat64(int dir, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = modeOf(flags, args);
  va_end(args);
  beforeOpen(path);
  static const auto fn = real<int (*)(int, const char*, int, ...)>("openat64");
  return opened(fn(dir, path, flags, mode), path);
}

ssize_t read(int fd, void* buffer, size_t count) {
  static const auto fn = real<ssize_t (*)(int, void*, size_t)>("read");
  const long long done = gInitialised.load() && fd >= 0 && fd < kMaxFd ? gReadFrom[fd].load() : -1;
  if (done < 0) return fn(fd, buffer, count);
  if (done >= number("TSN_STALL_READ_AFTER", 0)) {
    gReadFrom[fd].store(-1);  // once per file
    stall("read", setting("TSN_STALL_READ"));
    return fn(fd, buffer, count);
  }
  const ssize_t n = fn(fd, buffer, count);
  if (n > 0) gReadFrom[fd].fetch_add(n);
  return n;
}

int close(int fd) {
  static const auto fn = real<int (*)(int)>("close");
  if (gInitialised.load() && fd >= 0 && fd < kMaxFd) gReadFrom[fd].store(-1);
  return fn(fd);
}

}  // extern "C"

# Every third-party dependency as an imported target. Debian packages provide all of them;
# tools/dev/install_deps.sh installs them.

find_package(Torch REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(tomlplusplus REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)

# PyTorch's pip LibTorch carries its own fmt (12.x) in its include directory, which the compiler
# would find before the system's fmt (9.x) that spdlog is built against. A directory holding just
# the system's fmt and spdlog headers, searched first (tsn_target_defaults), keeps spdlog, our
# code and libfmt together; fmt's versioned namespace keeps LibTorch's copy apart at link time.
set(TSN_SYSTEM_FMT_DIR "")
get_target_property(fmt_include fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
foreach(dir ${TORCH_INCLUDE_DIRS})
  # Debian's LibTorch lives in /usr/include, beside the system fmt itself: nothing to do.
  if(EXISTS "${dir}/fmt/format.h" AND NOT dir IN_LIST fmt_include AND NOT dir STREQUAL "/usr/include")
    set(TSN_SYSTEM_FMT_DIR ${CMAKE_BINARY_DIR}/system-fmt)
    file(MAKE_DIRECTORY ${TSN_SYSTEM_FMT_DIR})
    foreach(lib fmt spdlog)
      find_path(${lib}_header_root ${lib} PATHS ${fmt_include} /usr/include NO_DEFAULT_PATH)
      file(CREATE_LINK ${${lib}_header_root}/${lib} ${TSN_SYSTEM_FMT_DIR}/${lib} SYMBOLIC)
    endforeach()
    message(STATUS "LibTorch bundles fmt (${dir}/fmt): using the system fmt and spdlog first")
    break()
  endif()
endforeach()

find_package(PkgConfig REQUIRED)
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)
add_library(FFmpeg::FFmpeg ALIAS PkgConfig::FFMPEG)
# libjpeg-turbo's TurboJPEG API (libturbojpeg0-dev): the frames of packed shards and rawframes.
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
add_library(TurboJPEG::TurboJPEG ALIAS PkgConfig::TURBOJPEG)

add_library(tsn_opencv INTERFACE)
target_include_directories(tsn_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
target_link_libraries(tsn_opencv INTERFACE opencv_core opencv_imgproc opencv_imgcodecs)
add_library(OpenCV::Image ALIAS tsn_opencv)

if(TSN_WITH_CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_package(NCCL REQUIRED)
endif()

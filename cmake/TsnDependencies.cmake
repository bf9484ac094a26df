# Every third-party dependency as an imported target. Debian packages provide all of them;
# tools/install_deps.sh installs them.

find_package(Torch REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(tomlplusplus REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)

find_package(PkgConfig REQUIRED)
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)
add_library(FFmpeg::FFmpeg ALIAS PkgConfig::FFMPEG)

add_library(tsn_opencv INTERFACE)
target_include_directories(tsn_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
target_link_libraries(tsn_opencv INTERFACE opencv_core opencv_imgproc opencv_imgcodecs)
add_library(OpenCV::Image ALIAS tsn_opencv)

if(TSN_WITH_CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_package(NCCL REQUIRED)
endif()

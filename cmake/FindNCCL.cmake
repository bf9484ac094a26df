# FindNCCL: NCCL::NCCL imported target. Looks in NCCL_ROOT, $NCCL_HOME, the CUDA toolkit
# (/usr/local/cuda on our machines) and pip's nvidia-nccl wheel layout.
find_path(NCCL_INCLUDE_DIR nccl.h
  HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} $ENV{NCCL_HOME} ${CUDAToolkit_LIBRARY_ROOT} /usr/local/cuda
  PATH_SUFFIXES include)
# The library beside the header first (NAMES_PER_DIR: the first directory holding either name
# wins; pip's wheel has only libnccl.so.2), so header and library never come from two NCCLs.
get_filename_component(NCCL_HEADER_ROOT "${NCCL_INCLUDE_DIR}" DIRECTORY)
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR
  HINTS ${NCCL_HEADER_ROOT} ${NCCL_ROOT} $ENV{NCCL_ROOT} $ENV{NCCL_HOME}
        ${CUDAToolkit_LIBRARY_ROOT} /usr/local/cuda
  PATH_SUFFIXES lib lib64)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_INCLUDE_DIR NCCL_LIBRARY)
if(NCCL_FOUND AND NOT TARGET NCCL::NCCL)
  add_library(NCCL::NCCL UNKNOWN IMPORTED)
  set_target_properties(NCCL::NCCL PROPERTIES
    IMPORTED_LOCATION ${NCCL_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
endif()

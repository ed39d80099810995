# CUDA for the native library, in one place.
#
#   VISCPM_CUDA               build kernels/cuda and link it (a GPU machine: nvcc plus a
#                             CUDA LibTorch, VISCPM_TORCH_PROVIDER=python).
#   VISCPM_CUDA_COMPILE_CHECK compile every .cu file without linking (CPU machines, CI):
#                             nvcc comes from PATH, VISCPM_NVCC, or PyPI's CUDA 13.1 compiler
#                             wheels fetched once into VISCPM_CACHE_DIR; LibTorch's c10/cuda
#                             headers come from the torch wheel the CPU build already uses.
#
# Targets: sm_80 (A100) and sm_90 (H100/H200) machine code plus sm_90 PTX for newer cards.
include_guard(GLOBAL)

set(VISCPM_CUDA_ARCHITECTURES "80-real;90" CACHE STRING "CUDA architectures of kernels/cuda")
set(VISCPM_NVCC_FLAGS --expt-relaxed-constexpr -O3 -lineinfo)
set(VISCPM_CUDA_WHEEL_VERSION "13.1")

if(VISCPM_CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "${VISCPM_CUDA_ARCHITECTURES}")
  endif()
  enable_language(CUDA)
  return()
endif()

# nvcc for the compile check: PATH, then VISCPM_NVCC, then the PyPI wheels.
function(_viscpm_find_nvcc out_var)
  if(VISCPM_NVCC AND EXISTS "${VISCPM_NVCC}")
    set(${out_var} "${VISCPM_NVCC}" PARENT_SCOPE)
    return()
  endif()
  find_program(_nvcc nvcc)
  if(_nvcc)
    set(${out_var} "${_nvcc}" PARENT_SCOPE)
    return()
  endif()
  set(root "${VISCPM_CACHE_DIR}/cuda-${VISCPM_CUDA_WHEEL_VERSION}")
  set(nvcc "${root}/nvidia/cu13/bin/nvcc")
  if(NOT EXISTS "${nvcc}")
    find_package(Python3 COMPONENTS Interpreter REQUIRED)
    set(wheels nvidia-cuda-nvcc nvidia-cuda-runtime nvidia-cuda-cccl nvidia-nvvm nvidia-cuda-crt)
    set(specs "")
    foreach(w IN LISTS wheels)
      list(APPEND specs "${w}==${VISCPM_CUDA_WHEEL_VERSION}.*")
    endforeach()
    message(STATUS "Fetching the CUDA ${VISCPM_CUDA_WHEEL_VERSION} compiler from PyPI (${wheels}, ~110 MB, once) to compile kernels/cuda")
    set(dl "${root}/wheels")
    execute_process(COMMAND "${Python3_EXECUTABLE}" -m pip download --quiet --no-deps --only-binary=:all:
                            --python-version 3.12 --implementation cp
                            --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
                            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
                            --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64
                            -d "${dl}" ${specs}
                    RESULT_VARIABLE rc)
    file(GLOB whls "${dl}/*.whl")
    list(LENGTH whls count)
    if(NOT rc EQUAL 0 OR count LESS 5)
      message(FATAL_ERROR "pip could not download the CUDA compiler wheels (${specs}); install nvcc, set VISCPM_NVCC, "
                          "or configure with -DVISCPM_CUDA_COMPILE_CHECK=OFF")
    endif()
    foreach(whl IN LISTS whls)
      file(ARCHIVE_EXTRACT INPUT "${whl}" DESTINATION "${root}")
    endforeach()
    file(REMOVE_RECURSE "${dl}")
    # Wheels do not keep the executable bit.
    file(GLOB executables "${root}/nvidia/cu13/bin/*" "${root}/nvidia/cu13/nvvm/bin/*")
    foreach(exe IN LISTS executables)
      if(NOT IS_DIRECTORY "${exe}")
        file(CHMOD "${exe}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
      endif()
    endforeach()
  endif()
  set(${out_var} "${nvcc}" PARENT_SCOPE)
endfunction()

# viscpm_cuda_compile_check(<target> SOURCES <.cu...> DISPATCH <ops.cpp>)
#   <target> (in ALL) compiles each .cu with nvcc -c and the dispatch file with the CUDA
#   branch switched on; the objects are checked, never linked.
function(viscpm_cuda_compile_check target)
  cmake_parse_arguments(ARG "" "DISPATCH" "SOURCES" ${ARGN})
  _viscpm_find_nvcc(nvcc)
  get_target_property(torch_includes viscpm_torch INTERFACE_INCLUDE_DIRECTORIES)
  set(include_flags -I${VISCPM_SOURCE_ROOT})
  foreach(dir IN LISTS torch_includes)
    list(APPEND include_flags -isystem ${dir})
  endforeach()
  set(gencode -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90
              -gencode=arch=compute_90,code=compute_90)
  file(GLOB headers CONFIGURE_DEPENDS "${VISCPM_SOURCE_ROOT}/kernels/cuda/*.cuh" "${VISCPM_SOURCE_ROOT}/kernels/ops.h")
  set(objects "")
  foreach(source IN LISTS ARG_SOURCES)
    get_filename_component(name "${source}" NAME_WE)
    set(object "${CMAKE_CURRENT_BINARY_DIR}/cuda_compile_check/${name}.o")
    add_custom_command(OUTPUT "${object}"
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/cuda_compile_check"
      COMMAND "${nvcc}" -c -std=c++17 -cudart shared ${VISCPM_NVCC_FLAGS} ${gencode} -Xcompiler=-fPIC
              -D_GLIBCXX_USE_CXX11_ABI=1 -DTORCH_ASSERT_ONLY_METHOD_OPERATORS -DAT_PER_OPERATOR_HEADERS
              ${include_flags} "${source}" -o "${object}"
      DEPENDS "${source}" ${headers}
      COMMENT "nvcc (compile check) ${name}.cu"
      VERBATIM)
    list(APPEND objects "${object}")
  endforeach()
  # The dispatch code's CUDA branch: needs only the .cuh declarations.
  add_library(${target}_dispatch OBJECT "${ARG_DISPATCH}")
  target_link_libraries(${target}_dispatch PRIVATE viscpm_common viscpm::torch)
  target_include_directories(${target}_dispatch PRIVATE "${VISCPM_SOURCE_ROOT}")
  target_compile_definitions(${target}_dispatch PRIVATE VISCPM_WITH_CUDA_KERNELS TORCH_ASSERT_ONLY_METHOD_OPERATORS
                                                        AT_PER_OPERATOR_HEADERS)
  add_custom_target(${target} ALL DEPENDS ${objects} ${target}_dispatch)
  message(STATUS "VisCPM: kernels/cuda compile check with ${nvcc}")
endfunction()

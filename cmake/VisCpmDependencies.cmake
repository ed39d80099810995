# Locates the native dependencies once for every target:
#   viscpm::torch   LibTorch 2.10.0
#   nlohmann_json::nlohmann_json, GTest (tests)
#
# LibTorch provider (VISCPM_TORCH_PROVIDER):
#   bytedeco (default)  compile against the headers of the PyPI wheel torch==2.10.0 and link
#                       against the libraries of org.bytedeco:pytorch:2.10.0-1.5.13, the very
#                       files the JVM loads at run time. Both are cached outside the repository
#                       (VISCPM_CACHE_DIR, default ~/.cache/viscpm) and fetched on first use.
#   python              find_package(Torch) from the Python installation's torch (the GPU
#                       machine, where bytedeco's CUDA build is not available).
include_guard(GLOBAL)

set(VISCPM_TORCH_VERSION "2.10.0")
set(VISCPM_BYTEDECO_VERSION "${VISCPM_TORCH_VERSION}-1.5.13")
set(VISCPM_OPENBLAS_VERSION "0.3.31-1.5.13")
set(VISCPM_TORCH_PROVIDER "bytedeco" CACHE STRING "Where LibTorch comes from: bytedeco | python")
set_property(CACHE VISCPM_TORCH_PROVIDER PROPERTY STRINGS bytedeco python)

if(DEFINED ENV{VISCPM_CACHE_DIR})
  set(_viscpm_default_cache "$ENV{VISCPM_CACHE_DIR}")
else()
  set(_viscpm_default_cache "$ENV{HOME}/.cache/viscpm")
endif()
set(VISCPM_CACHE_DIR "${_viscpm_default_cache}" CACHE PATH "Cache for LibTorch headers and bytedeco libraries")

if(DEFINED ENV{M2_REPO})
  set(_viscpm_m2 "$ENV{M2_REPO}")
else()
  set(_viscpm_m2 "$ENV{HOME}/.m2/repository")
endif()
set(VISCPM_MAVEN_REPO "${_viscpm_m2}" CACHE PATH "Local Maven repository holding the bytedeco jars")

# Fetches org.bytedeco:<artifact>:<version>:jar:linux-x86_64 into the local Maven repository
# if it is not there yet and returns the jar's path.
function(_viscpm_bytedeco_jar artifact version out_var)
  set(jar "${VISCPM_MAVEN_REPO}/org/bytedeco/${artifact}/${version}/${artifact}-${version}-linux-x86_64.jar")
  if(NOT EXISTS "${jar}")
    find_program(MVN_EXECUTABLE mvn)
    if(NOT MVN_EXECUTABLE)
      message(FATAL_ERROR "${jar} is missing and Maven (mvn) is not installed to fetch it. "
                          "Install Maven or run the root `mvn package` once.")
    endif()
    message(STATUS "Fetching org.bytedeco:${artifact}:${version} (linux-x86_64) with Maven")
    execute_process(COMMAND "${MVN_EXECUTABLE}" -q -B dependency:get
                            "-Dartifact=org.bytedeco:${artifact}:${version}:jar:linux-x86_64"
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0 OR NOT EXISTS "${jar}")
      message(FATAL_ERROR "Could not fetch org.bytedeco:${artifact}:${version} from Maven Central")
    endif()
  endif()
  set(${out_var} "${jar}" PARENT_SCOPE)
endfunction()

function(_viscpm_setup_bytedeco_torch)
  # Headers: the wheel carries include/ and share/cmake; only those are extracted.
  set(headers_root "${VISCPM_CACHE_DIR}/torch-${VISCPM_TORCH_VERSION}")
  if(NOT EXISTS "${headers_root}/torch/include/ATen/ATen.h")
    find_package(Python3 COMPONENTS Interpreter REQUIRED)
    set(wheel_dir "${VISCPM_CACHE_DIR}/wheel")
    file(GLOB wheel "${wheel_dir}/torch-${VISCPM_TORCH_VERSION}-*.whl")
    if(NOT wheel)
      message(STATUS "Fetching LibTorch ${VISCPM_TORCH_VERSION} headers (PyPI wheel torch==${VISCPM_TORCH_VERSION}, ~900 MB, once)")
      execute_process(COMMAND "${Python3_EXECUTABLE}" -m pip download --quiet --no-deps
                              --only-binary=:all: --platform manylinux_2_28_x86_64
                              --python-version 3.12 --implementation cp
                              -d "${wheel_dir}" "torch==${VISCPM_TORCH_VERSION}"
                      RESULT_VARIABLE rc)
      file(GLOB wheel "${wheel_dir}/torch-${VISCPM_TORCH_VERSION}-*.whl")
      if(NOT rc EQUAL 0 OR NOT wheel)
        message(FATAL_ERROR "pip could not download torch==${VISCPM_TORCH_VERSION}; LibTorch headers are needed to build")
      endif()
    endif()
    list(GET wheel 0 wheel)
    file(ARCHIVE_EXTRACT INPUT "${wheel}" DESTINATION "${headers_root}"
         PATTERNS "torch/include/*" "torch/share/cmake/*")
    file(REMOVE "${wheel}")  # 900 MB we no longer need
  endif()

  # Libraries: bytedeco's libtorch_cpu.so finds libopenblas.so.0 through $ORIGIN, so both
  # jars are unpacked into one folder.
  set(lib_dir "${VISCPM_CACHE_DIR}/bytedeco-${VISCPM_BYTEDECO_VERSION}/lib")
  if(NOT EXISTS "${lib_dir}/libtorch_cpu.so" OR NOT EXISTS "${lib_dir}/libopenblas.so.0")
    _viscpm_bytedeco_jar(pytorch "${VISCPM_BYTEDECO_VERSION}" torch_jar)
    _viscpm_bytedeco_jar(openblas "${VISCPM_OPENBLAS_VERSION}" blas_jar)
    set(tmp "${VISCPM_CACHE_DIR}/bytedeco-${VISCPM_BYTEDECO_VERSION}/unpack")
    file(REMOVE_RECURSE "${tmp}")
    file(ARCHIVE_EXTRACT INPUT "${torch_jar}" DESTINATION "${tmp}" PATTERNS "*.so" "*.so.*")
    file(ARCHIVE_EXTRACT INPUT "${blas_jar}" DESTINATION "${tmp}" PATTERNS "*.so" "*.so.*")
    file(GLOB_RECURSE libs "${tmp}/*.so*")
    file(MAKE_DIRECTORY "${lib_dir}")
    foreach(lib IN LISTS libs)
      file(COPY "${lib}" DESTINATION "${lib_dir}")
    endforeach()
    file(REMOVE_RECURSE "${tmp}")
  endif()

  add_library(viscpm_torch INTERFACE)
  target_include_directories(viscpm_torch SYSTEM INTERFACE
    "${headers_root}/torch/include"
    "${headers_root}/torch/include/torch/csrc/api/include")
  target_compile_definitions(viscpm_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
  target_link_libraries(viscpm_torch INTERFACE "${lib_dir}/libtorch_cpu.so" "${lib_dir}/libc10.so")
  add_library(viscpm::torch ALIAS viscpm_torch)
  set(VISCPM_TORCH_LIB_DIR "${lib_dir}" CACHE INTERNAL "")
endfunction()

function(_viscpm_setup_python_torch)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  execute_process(COMMAND "${Python3_EXECUTABLE}" -c "import torch; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "VISCPM_TORCH_PROVIDER=python but `import torch` failed")
  endif()
  list(APPEND CMAKE_PREFIX_PATH "${prefix}")
  find_package(Torch REQUIRED)
  add_library(viscpm_torch INTERFACE)
  target_link_libraries(viscpm_torch INTERFACE ${TORCH_LIBRARIES})
  target_compile_options(viscpm_torch INTERFACE ${TORCH_CXX_FLAGS})
  add_library(viscpm::torch ALIAS viscpm_torch)
  get_filename_component(lib_dir "${TORCH_LIBRARY}" DIRECTORY)
  set(VISCPM_TORCH_LIB_DIR "${lib_dir}" CACHE INTERNAL "")
endfunction()

if(VISCPM_TORCH_PROVIDER STREQUAL "bytedeco")
  _viscpm_setup_bytedeco_torch()
elseif(VISCPM_TORCH_PROVIDER STREQUAL "python")
  _viscpm_setup_python_torch()
else()
  message(FATAL_ERROR "Unknown VISCPM_TORCH_PROVIDER '${VISCPM_TORCH_PROVIDER}'")
endif()

# at::parallel_for is an inline template that runs its body serially unless the calling code
# is compiled with OpenMP: our own kernels (small-batch GEMM, pooled BLAS, preprocessing, CRC)
# need -fopenmp to use LibTorch's thread pool at all. They must link the OpenMP runtime
# LibTorch itself loads (bytedeco: libgomp.so.1 beside it; PyTorch wheels: a renamed
# libgomp-<hash>.so.1), never a second one: two runtimes would be two pools on the same cores.
file(GLOB _viscpm_gomp "${VISCPM_TORCH_LIB_DIR}/libgomp.so.1" "${VISCPM_TORCH_LIB_DIR}/libgomp-*.so*")
if(_viscpm_gomp)
  list(GET _viscpm_gomp 0 _viscpm_gomp)
  target_compile_options(viscpm_torch INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fopenmp>)
  target_link_libraries(viscpm_torch INTERFACE "${_viscpm_gomp}")
else()
  find_package(OpenMP REQUIRED COMPONENTS CXX)  # LibTorch linked against the system's runtime
  target_link_libraries(viscpm_torch INTERFACE OpenMP::OpenMP_CXX)
endif()
message(STATUS "VisCPM: OpenMP runtime ${_viscpm_gomp}")

find_package(nlohmann_json 3 REQUIRED)

# ---------------------------------------------------------------------------------------
# OpenCV (vision component: image decoding)                      maintained by: vision
#   viscpm::opencv   core + imgproc + imgcodecs of org.bytedeco:opencv:4.13.0-1.5.13, the
#                    very libraries the JVM loads through bytedeco's Loader at run time.
# The jar carries include/ and versioned .so files (libopencv_*.so.413, no unversioned
# links). Their RUNPATH points at bytedeco's CI folders, so their own dependencies resolve
# by soname: imgcodecs -> imgproc -> core are all direct dependencies of libviscpm (linked
# here), and core's libopenblas.so.0 is the one libtorch_cpu already loads from
# VISCPM_TORCH_LIB_DIR (on the JVM: the one bytedeco's openblas preset loads).
# ---------------------------------------------------------------------------------------
set(VISCPM_OPENCV_VERSION "4.13.0-1.5.13")
set(VISCPM_OPENCV_SOVERSION "413")

function(_viscpm_setup_bytedeco_opencv)
  set(root "${VISCPM_CACHE_DIR}/bytedeco-opencv-${VISCPM_OPENCV_VERSION}")
  set(modules core imgproc imgcodecs)
  set(complete TRUE)
  if(NOT EXISTS "${root}/include/opencv2/imgcodecs.hpp")
    set(complete FALSE)
  endif()
  foreach(module IN LISTS modules)
    if(NOT EXISTS "${root}/lib/libopencv_${module}.so.${VISCPM_OPENCV_SOVERSION}")
      set(complete FALSE)
    endif()
  endforeach()
  if(NOT complete)
    # Machines without the jar and without Maven (e.g. a bare GPU box) may use a system
    # OpenCV 4 instead; decoding results are the same codecs' (libpng/libjpeg-turbo/libwebp).
    set(jar "${VISCPM_MAVEN_REPO}/org/bytedeco/opencv/${VISCPM_OPENCV_VERSION}/opencv-${VISCPM_OPENCV_VERSION}-linux-x86_64.jar")
    find_program(MVN_EXECUTABLE mvn)
    if(NOT EXISTS "${jar}" AND NOT MVN_EXECUTABLE)
      find_package(OpenCV 4 QUIET COMPONENTS core imgproc imgcodecs)
      if(OpenCV_FOUND)
        message(STATUS "bytedeco OpenCV jar unavailable: using system OpenCV ${OpenCV_VERSION}")
        add_library(viscpm_opencv INTERFACE)
        target_include_directories(viscpm_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
        target_link_libraries(viscpm_opencv INTERFACE opencv_core opencv_imgproc opencv_imgcodecs)
        add_library(viscpm::opencv ALIAS viscpm_opencv)
        set(VISCPM_OPENCV_LIB_DIR "" CACHE INTERNAL "")
        return()
      endif()
    endif()
    _viscpm_bytedeco_jar(opencv "${VISCPM_OPENCV_VERSION}" opencv_jar)
    set(tmp "${root}/unpack")
    set(inner "org/bytedeco/opencv/linux-x86_64")
    file(REMOVE_RECURSE "${tmp}")
    set(patterns "${inner}/include/*")
    foreach(module IN LISTS modules)
      list(APPEND patterns "${inner}/libopencv_${module}.so*")
    endforeach()
    file(ARCHIVE_EXTRACT INPUT "${opencv_jar}" DESTINATION "${tmp}" PATTERNS ${patterns})
    file(REMOVE_RECURSE "${root}/include" "${root}/lib")
    file(MAKE_DIRECTORY "${root}/lib")
    file(RENAME "${tmp}/${inner}/include" "${root}/include")
    foreach(module IN LISTS modules)
      file(COPY "${tmp}/${inner}/libopencv_${module}.so.${VISCPM_OPENCV_SOVERSION}" DESTINATION "${root}/lib")
    endforeach()
    file(REMOVE_RECURSE "${tmp}")
  endif()

  add_library(viscpm_opencv INTERFACE)
  target_include_directories(viscpm_opencv SYSTEM INTERFACE "${root}/include")
  # libopencv_core needs libopenblas.so.0 and its RUNPATH cannot find it: link it first, so a
  # program loads it (from VISCPM_TORCH_LIB_DIR, by its rpath) before OpenCV asks for it.
  if(EXISTS "${VISCPM_TORCH_LIB_DIR}/libopenblas.so.0")
    target_link_libraries(viscpm_opencv INTERFACE
      -Wl,--push-state,--no-as-needed "${VISCPM_TORCH_LIB_DIR}/libopenblas.so.0" -Wl,--pop-state)
  endif()
  foreach(module IN LISTS modules)
    set(lib "${root}/lib/libopencv_${module}.so.${VISCPM_OPENCV_SOVERSION}")
    add_library(viscpm_opencv_${module} SHARED IMPORTED GLOBAL)
    set_target_properties(viscpm_opencv_${module} PROPERTIES
      IMPORTED_LOCATION "${lib}"
      IMPORTED_SONAME "libopencv_${module}.so.${VISCPM_OPENCV_SOVERSION}")
    target_link_libraries(viscpm_opencv INTERFACE viscpm_opencv_${module})
  endforeach()
  add_library(viscpm::opencv ALIAS viscpm_opencv)
  set(VISCPM_OPENCV_LIB_DIR "${root}/lib" CACHE INTERNAL "")
endfunction()

# Only the vision component decodes images; other subsets need not unpack the jar.
if("vision" IN_LIST VISCPM_COMPONENTS OR NOT DEFINED VISCPM_COMPONENTS)
  _viscpm_setup_bytedeco_opencv()
endif()

# The CUDA side of the build. Include after find_package(Torch). Sets FUSEBOX_CUDA_MODE to
#   full  -- a CUDA-enabled libtorch and nvcc: ops/**/cuda_*.cu are compiled into libfusebox,
#            ops/**/cuda_*.cpp (torch wrappers + registration) too, FUSEBOX_WITH_CUDA is defined
#            and the CUDA tests and benchmarks are built;
#   check -- a CPU-only libtorch but nvcc present (the Debian build machine, CI): the .cu files
#            are compiled for sm_90 into an object library that nothing links, so a CUDA
#            compile error fails the default build; the torch wrappers are not built;
#   none  -- neither.
# FUSEBOX_CUDA=AUTO (default) picks the best of these; ON demands `full` and fails the
# configure step saying what is missing; OFF forces `none`.
#
# Architectures: with `full`, torch's own CMake config has already put
# `-gencode arch=...,code=...` flags for TORCH_CUDA_ARCH_LIST (or the GPUs it saw) into
# CMAKE_CUDA_FLAGS, and the kernels are built for exactly those, like the rest of libtorch.
# FUSEBOX_CUDA_ARCHITECTURES overrides them (CMake syntax: "90", "80;90", "90a-real").
# The compute-capability range the device code covers is passed to the kernel registrations
# (FUSEBOX_CUDA_MIN_CC/FUSEBOX_CUDA_MAX_CC), so `auto` never selects a kernel that has no code
# for the GPU it runs on.

# Called by the top-level CMakeLists once libfusebox exists: the kernels' objects, the CUDA
# runtime and the definitions the torch wrappers and tests read.
function(fusebox_attach_cuda target)
  if(NOT FUSEBOX_CUDA_MODE STREQUAL "full")
    return()
  endif()
  if(TARGET fusebox_cuda_kernels)
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:fusebox_cuda_kernels>)
  endif()
  if(NOT TARGET CUDA::cudart)
    find_package(CUDAToolkit REQUIRED)
  endif()
  target_link_libraries(${target} PUBLIC CUDA::cudart)
  target_compile_definitions(${target} PUBLIC FUSEBOX_WITH_CUDA
    FUSEBOX_CUDA_MIN_CC=${FUSEBOX_CUDA_MIN_CC} FUSEBOX_CUDA_MAX_CC=${FUSEBOX_CUDA_MAX_CC})
endfunction()

set(FUSEBOX_CUDA AUTO CACHE STRING "Build the CUDA kernels: AUTO, ON or OFF")
set_property(CACHE FUSEBOX_CUDA PROPERTY STRINGS AUTO ON OFF)
set(FUSEBOX_CUDA_ARCHITECTURES "" CACHE STRING
    "CUDA architectures for the kernels (CMake syntax); empty = torch's list, or 90 without one")
string(TOUPPER "${FUSEBOX_CUDA}" _fusebox_cuda)
if(NOT _fusebox_cuda MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "FUSEBOX_CUDA must be AUTO, ON or OFF, not '${FUSEBOX_CUDA}'")
endif()

set(FUSEBOX_CUDA_MODE none)
if(_fusebox_cuda STREQUAL "OFF")
  message(STATUS "fusebox: CUDA kernels off (FUSEBOX_CUDA=OFF)")
  return()
endif()

# A CUDA libtorch: its Caffe2 config sets CAFFE2_USE_CUDA (torch 2.x) and imports the
# torch_cuda library target (1.13 and 2.x); a CPU-only build has neither.
if(CAFFE2_USE_CUDA OR TARGET torch_cuda)
  set(_fusebox_torch_cuda TRUE)
else()
  set(_fusebox_torch_cuda FALSE)
endif()

# nvcc: CUDACXX, PATH, then the usual install locations (CMake itself only looks at the first
# two, and /usr/local/cuda/bin is often not on PATH).
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(FUSEBOX_NVCC nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH PATH_SUFFIXES bin
               PATHS /usr/local/cuda/bin)
  if(FUSEBOX_NVCC)
    set(ENV{CUDACXX} "${FUSEBOX_NVCC}")
  endif()
endif()
include(CheckLanguage)
check_language(CUDA)

if(NOT CMAKE_CUDA_COMPILER)
  if(_fusebox_cuda STREQUAL "ON")
    message(FATAL_ERROR "FUSEBOX_CUDA=ON, but no working CUDA compiler (nvcc) was found. "
                        "Install the CUDA toolkit, or point CUDACXX or CMAKE_CUDA_COMPILER at "
                        "its nvcc.")
  endif()
  message(STATUS "fusebox: no CUDA compiler found; CUDA kernels skipped")
  return()
endif()
if(NOT _fusebox_torch_cuda AND _fusebox_cuda STREQUAL "ON")
  message(FATAL_ERROR "FUSEBOX_CUDA=ON, but the libtorch found in ${Torch_DIR} is CPU-only "
                      "(no torch_cuda target, CAFFE2_USE_CUDA unset). Point CMAKE_PREFIX_PATH at "
                      "a CUDA libtorch, e.g. -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; "
                      "print(torch.utils.cmake_prefix_path)'), or use FUSEBOX_CUDA=AUTO.")
endif()

# Link the shared CUDA runtime, the one libtorch uses (CMake's default is the static one).
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
enable_language(CUDA)

# The architectures: explicit, or torch's -gencode flags, or sm_90 (H100/H200, the GPUs this
# project runs on; also what the check build compiles for).
set(_fusebox_arch_flags "")
if(FUSEBOX_CUDA_ARCHITECTURES)
  # Ours replace torch's, which would otherwise be added on top.
  string(REGEX REPLACE "-gencode[= ]+arch=[^ ]+" "" CMAKE_CUDA_FLAGS "${CMAKE_CUDA_FLAGS}")
  set(FUSEBOX_CUDA_ARCH_PROPERTY "${FUSEBOX_CUDA_ARCHITECTURES}")
elseif(_fusebox_torch_cuda AND CMAKE_CUDA_FLAGS MATCHES "-gencode")
  set(FUSEBOX_CUDA_ARCH_PROPERTY OFF)
  string(REGEX MATCHALL "-gencode[= ]+arch=[^ ]+" _fusebox_arch_flags "${CMAKE_CUDA_FLAGS}")
else()
  set(FUSEBOX_CUDA_ARCH_PROPERTY 90)
endif()

# Compute-capability range of the device code: a cubin for sm_XY runs on X.Y up to X.9 (an
# arch-specific sm_XYa only on X.Y); PTX (compute_XY) is JIT-compiled for any later GPU.
set(_fusebox_sass "")
set(_fusebox_ptx "")
if(FUSEBOX_CUDA_ARCH_PROPERTY)
  foreach(arch IN LISTS FUSEBOX_CUDA_ARCH_PROPERTY)
    string(REGEX MATCH "^([0-9]+)([af]?)(-real|-virtual)?$" _m "${arch}")
    if(NOT _m)
      message(FATAL_ERROR "FUSEBOX_CUDA_ARCHITECTURES: cannot read '${arch}'")
    endif()
    if(NOT CMAKE_MATCH_3 STREQUAL "-virtual")
      list(APPEND _fusebox_sass "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
    endif()
    if(NOT CMAKE_MATCH_3 STREQUAL "-real")
      list(APPEND _fusebox_ptx "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
    endif()
  endforeach()
else()
  foreach(flag IN LISTS _fusebox_arch_flags)
    string(REGEX REPLACE ".*code=" "" _codes "${flag}")
    string(REGEX MATCHALL "(sm|compute)_[0-9]+[af]?" _codes "${_codes}")
    foreach(code IN LISTS _codes)
      string(REGEX REPLACE "^(sm|compute)_" "" _num "${code}")
      if(code MATCHES "^sm_")
        list(APPEND _fusebox_sass "${_num}")
      else()
        list(APPEND _fusebox_ptx "${_num}")
      endif()
    endforeach()
  endforeach()
endif()
set(FUSEBOX_CUDA_MIN_CC 0)
set(FUSEBOX_CUDA_MAX_CC 0)
set(_fusebox_unbounded FALSE)
foreach(arch IN LISTS _fusebox_sass _fusebox_ptx)
  string(REGEX REPLACE "[af]$" "" _num "${arch}")
  if(FUSEBOX_CUDA_MIN_CC EQUAL 0 OR _num LESS FUSEBOX_CUDA_MIN_CC)
    set(FUSEBOX_CUDA_MIN_CC ${_num})
  endif()
endforeach()
foreach(arch IN LISTS _fusebox_sass)
  string(REGEX REPLACE "[af]$" "" _num "${arch}")
  if(arch MATCHES "[af]$")
    set(_top ${_num})
  else()
    math(EXPR _top "${_num} / 10 * 10 + 9")
  endif()
  if(_top GREATER FUSEBOX_CUDA_MAX_CC)
    set(FUSEBOX_CUDA_MAX_CC ${_top})
  endif()
endforeach()
foreach(arch IN LISTS _fusebox_ptx)
  if(NOT arch MATCHES "[af]$")
    set(_fusebox_unbounded TRUE)
  endif()
endforeach()
if(_fusebox_unbounded)
  set(FUSEBOX_CUDA_MAX_CC 0)
endif()

# The framework-free kernels. They never see torch's include path: that is what lets them
# compile on a machine without a CUDA libtorch.
file(GLOB_RECURSE FUSEBOX_CUDA_KERNEL_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/ops/*.cu)
if(_fusebox_torch_cuda)
  set(FUSEBOX_CUDA_MODE full)
  set(_fusebox_kernels_target fusebox_cuda_kernels)
else()
  set(FUSEBOX_CUDA_MODE check)
  set(_fusebox_kernels_target fusebox_cuda_check)
endif()
if(FUSEBOX_CUDA_KERNEL_SOURCES)
  add_library(${_fusebox_kernels_target} OBJECT ${FUSEBOX_CUDA_KERNEL_SOURCES})
  target_include_directories(${_fusebox_kernels_target} PRIVATE ${PROJECT_SOURCE_DIR})
  set_target_properties(${_fusebox_kernels_target} PROPERTIES
    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF
    CUDA_ARCHITECTURES "${FUSEBOX_CUDA_ARCH_PROPERTY}")
  # No --use_fast_math: the kernels reproduce the reference's expf/cosf/sinf and IEEE
  # division bit for bit where the tests say so. Host-side warnings as for the C++ code.
  target_compile_options(${_fusebox_kernels_target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  if(FUSEBOX_CCACHE)
    set_target_properties(${_fusebox_kernels_target} PROPERTIES
      CUDA_COMPILER_LAUNCHER "${FUSEBOX_CCACHE}")
  endif()
endif()

set(_fusebox_arch_text "${FUSEBOX_CUDA_ARCH_PROPERTY}")
if(NOT FUSEBOX_CUDA_ARCH_PROPERTY)
  set(_fusebox_arch_text "torch's ${_fusebox_arch_flags}")
endif()
if(FUSEBOX_CUDA_MODE STREQUAL "full")
  message(STATUS "fusebox: CUDA kernels on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
                 "${_fusebox_arch_text}, registered for compute capability "
                 "${FUSEBOX_CUDA_MIN_CC}..${FUSEBOX_CUDA_MAX_CC}, 0 = unbounded)")
else()
  message(STATUS "fusebox: libtorch is CPU-only; the CUDA kernels are only compiled as a check "
                 "(target fusebox_cuda_check, nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                 "architectures ${_fusebox_arch_text})")
endif()

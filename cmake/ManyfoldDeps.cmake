# Finds Manyfold's dependencies. Everything comes from Debian 12 packages
# (packaging/debian-packages.txt), except that Torch_DIR may point at a CUDA LibTorch 2.x
# (for example the one bundled in a PyTorch wheel: python -c 'import torch;print(torch.utils.cmake_prefix_path)').

find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

# --- LibTorch -------------------------------------------------------------------------------
# Debian's libtorch-dev installs its CMake config under the multiarch lib dir.
if(NOT Torch_DIR)
  foreach(cand /usr/lib/x86_64-linux-gnu/cmake/Torch /usr/share/cmake/Torch /usr/lib/cmake/Torch)
    if(EXISTS ${cand}/TorchConfig.cmake)
      set(Torch_DIR ${cand})
      break()
    endif()
  endforeach()
endif()
find_package(Torch REQUIRED)
# TORCH_CXX_FLAGS carries -D_GLIBCXX_USE_CXX11_ABI=0/1: every target must agree with LibTorch.
if(TORCH_CXX_FLAGS)
  string(REPLACE " " ";" _mf_torch_flags "${TORCH_CXX_FLAGS}")
  add_compile_options(${_mf_torch_flags})
endif()
set(MF_TORCH_VERSION "${Torch_VERSION}")
message(STATUS "Manyfold: LibTorch ${Torch_VERSION} from ${Torch_DIR}")

# torch::torch as an imported target that every models/ library links.
if(NOT TARGET mf_torch)
  add_library(mf_torch INTERFACE)
  target_link_libraries(mf_torch INTERFACE ${TORCH_LIBRARIES})
  target_include_directories(mf_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  # Qt's `slots`/`signals` macros break LibTorch headers; every TU that might see both uses Q_SLOTS.
  target_compile_definitions(mf_torch INTERFACE QT_NO_KEYWORDS)
endif()

# --- CUDA (optional) ------------------------------------------------------------------------
set(MF_HAVE_CUDA OFF)
if(MF_ENABLE_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND)
      set(MF_HAVE_CUDA ON)
      if(NOT CMAKE_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES 90)
      endif()
    endif()
  endif()
endif()
message(STATUS "Manyfold: CUDA kernels ${MF_HAVE_CUDA}")

# --- Media ----------------------------------------------------------------------------------
find_package(PkgConfig REQUIRED)
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale libswresample)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs video photo)

# --- UI -------------------------------------------------------------------------------------
if(MF_BUILD_UI)
  find_package(Qt6 6.2 COMPONENTS Core Gui Widgets OpenGL OpenGLWidgets Test)
  if(NOT Qt6_FOUND)
    message(WARNING "Qt 6 not found: the studio is not built")
    set(MF_BUILD_UI OFF)
  endif()
endif()

# --- Tests ----------------------------------------------------------------------------------
if(MF_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# Adds a unit test binary: mf_add_test(NAME SOURCES... LIBS ... [LABELS ...] [TIMEOUT s])
# Tests are registered with add_test (not gtest_discover_tests, which runs binaries at build time).
function(mf_add_test name)
  # SERIAL: a heavy test (minutes of multi-threaded LibTorch work) that ctest -j runs alone. Next to another
  # test's threads on a 2-core machine it ran over ten times slower (OpenMP threads of two processes on the same
  # cores) and timed out in CI.
  cmake_parse_arguments(T "SERIAL" "TIMEOUT" "SOURCES;LIBS;LABELS;ENV" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    MF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MF_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  add_test(NAME ${name} COMMAND ${name} --gtest_brief=1)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "OMP_NUM_THREADS=2;MF_SOURCE_DIR=${PROJECT_SOURCE_DIR};${T_ENV}")
  if(T_SERIAL)
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  else()
    set_tests_properties(${name} PROPERTIES LABELS "unit")
  endif()
endfunction()

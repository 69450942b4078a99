# Compiler flags shared by every target: warnings, sanitizers, ccache.

find_program(MMD_CCACHE ccache)
if(MMD_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${MMD_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MMD_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${MMD_CCACHE})
endif()

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

# Applied through an interface target so third-party code we compile is not affected.
add_library(mmd_warnings INTERFACE)
target_compile_options(mmd_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers>)
# GCC 12 reports false -Wrestrict positives inside std::string concatenation at -O3
# (GCC bug 105329); the warning finds nothing real in this code base.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(mmd_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
endif()
if(MMD_WERROR)
  target_compile_options(mmd_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()

if(MMD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(MMD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MMD_FUZZ needs clang (use the 'fuzz' preset)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

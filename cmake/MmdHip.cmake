# The HIP backend's build (MMD_HIP, the hip preset): Debian 12's hipcc 5.2.3 compiles the CUDA
# backend's .cu sources as HIP for the architectures in MMD_HIP_ARCHITECTURES, and the host
# compiler builds the backend's .cpp files against libamdhip64 with __HIP_PLATFORM_AMD__.
#
# Not CMake's HIP language: CMake 3.25 (Debian 12) looks for ROCm's CMake packages under
# <root>/lib/cmake, where Debian installs them under lib/<triplet>/cmake, and its compiler
# checks fail before any project code runs. hipcc itself knows Debian's layout (device
# libraries, --rocm-path), so each kernel source is one hipcc command with a depfile.
find_program(MMD_HIPCC hipcc REQUIRED DOC "hipcc (Debian: apt-get install hipcc)")
find_library(MMD_AMDHIP64_LIBRARY amdhip64 REQUIRED DOC "libamdhip64 (Debian: libamdhip64-dev)")
find_path(MMD_HIP_INCLUDE_DIR hip/hip_runtime_api.h REQUIRED DOC "HIP headers (libamdhip64-dev)")
# gfx90a (CDNA2: MI200) and gfx1030 (RDNA2): Debian's ROCm 5.2 device libraries have these.
# gfx1100 (RDNA3, the W7900 class) and gfx1151 (Strix Halo) need a newer ROCm than Debian 12's.
set(MMD_HIP_ARCHITECTURES "gfx90a;gfx1030" CACHE STRING "AMD GPU targets hipcc compiles for")

# mmd_add_hip_objects(<out-var> <source>...): one object file per source, compiled by hipcc;
# <out-var> lists them, to be given to add_library like sources.
function(mmd_add_hip_objects out_var)
  set(arch_flags "")
  foreach(arch IN LISTS MMD_HIP_ARCHITECTURES)
    list(APPEND arch_flags "--offload-arch=${arch}")
  endforeach()
  set(warning_flags -Wall -Wextra)
  if(MMD_WERROR)
    list(APPEND warning_flags -Werror)
  endif()
  set(objects "")
  foreach(source IN LISTS ARGN)
    get_filename_component(name "${source}" NAME)
    set(object "${CMAKE_CURRENT_BINARY_DIR}/hip-objects/${name}.o")
    add_custom_command(
      OUTPUT "${object}"
      COMMAND "${MMD_HIPCC}" -x hip ${arch_flags} -D__HIP_PLATFORM_AMD__=1 -std=c++20 -O3 -fPIC
              ${warning_flags}
              -I "${PROJECT_SOURCE_DIR}" -MD -MF "${object}.d" -c "${CMAKE_CURRENT_SOURCE_DIR}/${source}"
              -o "${object}"
      DEPFILE "${object}.d"
      DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/${source}"
      COMMENT "hipcc ${source} (${MMD_HIP_ARCHITECTURES})"
      VERBATIM)
    set_source_files_properties("${object}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    list(APPEND objects "${object}")
  endforeach()
  set(${out_var} "${objects}" PARENT_SCOPE)
endfunction()

# Third-party libraries, all from Debian's packages (see .ci/run for the package names).

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# simdjson parses checkpoint JSON (safetensors headers, the shard index, config.json): a
# 200 GB checkpoint carries ~100k tensor entries, and it is the fastest validating parser.
find_package(simdjson REQUIRED)
# nlohmann-json reads and writes JSON at the edges (mmctl --json, the OpenAI HTTP API).
find_package(nlohmann_json 3.10 REQUIRED)

if(MMD_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  include(MmdTesting)
endif()
if(MMD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# The client protocol and the daemon's service glue (issue 7).
# msgpack-cxx 4.x, header-only; its config file is msgpack-config.cmake (target msgpackc-cxx).
find_package(msgpack CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED)  # Boost.Interprocess (header-only)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
find_package(tomlplusplus REQUIRED)  # Debian's libtomlplusplus-dev (compiled library)

# Node's http-parser (Debian's libhttp-parser-dev) frames HTTP/1.1 for the OpenAI API; no
# CMake or pkg-config file ships with it.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY NAMES http_parser REQUIRED)
add_library(mmd::http_parser UNKNOWN IMPORTED)
set_target_properties(mmd::http_parser PROPERTIES IMPORTED_LOCATION ${HTTP_PARSER_LIBRARY}
                                                  INTERFACE_INCLUDE_DIRECTORIES ${HTTP_PARSER_INCLUDE_DIR})

# OpenMPI (libopenmpi-dev, openmpi-bin) starts and connects tensor-parallel ranks; without it
# mmd builds for one rank.
find_package(MPI COMPONENTS C)

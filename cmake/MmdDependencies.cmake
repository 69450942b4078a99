# Third-party libraries, all from Debian's packages (see .ci/run for the package names).

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# simdjson parses checkpoint JSON (safetensors headers, the shard index, config.json): a
# 200 GB checkpoint carries ~100k tensor entries, and it is the fastest validating parser.
find_package(simdjson REQUIRED)
# nlohmann-json writes JSON at the edges (mmctl --json, later the HTTP frontend).
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

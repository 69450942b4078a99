# libFuzzer targets of the daemon's own readers of what users and clients send (included by
# tests/fuzz/CMakeLists.txt): the TOML config, the D-Bus arguments, the shm setup and rings.

# config.cpp alone (with toml++), so the fuzzer does not pull in the whole service.
mmd_add_fuzzer(fuzz_daemon_config fuzz_daemon_config.cpp LIBS tomlplusplus::tomlplusplus)
foreach(target fuzz_daemon_config fuzz_daemon_config_replay)
  if(TARGET ${target})
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/daemon/service/config.cpp)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  endif()
endforeach()

if(TARGET mm_dbus_service)
  find_package(sdbus-c++ 1.2 REQUIRED)  # its imported target is local to the folder that finds it
  mmd_add_fuzzer(fuzz_dbus_options fuzz_dbus_options.cpp
    LIBS mm_dbus_service SDBusCpp::sdbus-c++)
endif()

mmd_add_fuzzer(fuzz_shm_ring fuzz_shm_ring.cpp LIBS mm_ipc)
mmd_add_fuzzer(fuzz_shm_handshake fuzz_shm_handshake.cpp LIBS mm_ipc)

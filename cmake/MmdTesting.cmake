# mmd_add_gtest(NAME SOURCES src... LIBS lib... [LABELS label...])
# One GoogleTest binary per area; each test case becomes its own CTest test.
function(mmd_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main mmd_warnings)
  target_compile_definitions(${name} PRIVATE
    MMD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MMD_FIXTURE_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures"
    MMD_BINARY_DIR="${PROJECT_BINARY_DIR}")
  # One label per binary: gtest_discover_tests writes properties into a generated script
  # where a list value would be split into separate arguments.
  if(ARG_LABELS)
    list(GET ARG_LABELS 0 label)
  else()
    set(label unit)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${label})
endfunction()

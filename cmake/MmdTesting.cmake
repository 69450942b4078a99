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
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "unit;${ARG_LABELS}")
endfunction()

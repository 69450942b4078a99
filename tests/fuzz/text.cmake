# libFuzzer targets of mm_text (included by tests/fuzz/CMakeLists.txt).
foreach(fuzzer fuzz_tokenizer fuzz_tokenizer_json fuzz_jinja fuzz_output_parsers fuzz_json_value)
  mmd_add_fuzzer(${fuzzer} ${fuzzer}.cpp LIBS mm_text)
  foreach(target ${fuzzer} ${fuzzer}_replay)
    if(TARGET ${target})
      target_compile_definitions(${target} PRIVATE MMD_FIXTURE_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures")
    endif()
  endforeach()
endforeach()

# libFuzzer targets of mm_text (included by tests/fuzz/CMakeLists.txt).
foreach(fuzzer fuzz_tokenizer fuzz_tokenizer_json fuzz_jinja fuzz_output_parsers fuzz_json_value)
  mmd_add_fuzzer(${fuzzer} ${fuzzer}.cpp LIBS mm_text)
  foreach(target ${fuzzer} ${fuzzer}_replay)
    if(TARGET ${target})
      target_compile_definitions(${target} PRIVATE MMD_FIXTURE_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures")
    endif()
  endforeach()
endforeach()

# The chat prompt builder's inputs (messages, tools, tool_choice, template kwargs) rendered on the
# MiniMax-M2 template with the bundled model's tokenizer.
mmd_add_fuzzer(fuzz_chat_prompt fuzz_chat_prompt.cpp LIBS mm_text)
foreach(target fuzz_chat_prompt fuzz_chat_prompt_replay)
  if(TARGET ${target})
    target_compile_definitions(${target} PRIVATE
      MMD_TOKENIZER_JSON="${PROJECT_SOURCE_DIR}/models/minimax-m2-tiny/fp8/tokenizer.json")
  endif()
endforeach()

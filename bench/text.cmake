# Encode-throughput benchmark of the mm_text tokenizer (see bench/text/README in RESULTS.md).
add_executable(bench_text_tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/text/bench_tokenizer.cpp)
target_link_libraries(bench_text_tokenizer PRIVATE mm_text benchmark::benchmark mmd_warnings)
target_compile_definitions(bench_text_tokenizer PRIVATE MMD_FIXTURE_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures")

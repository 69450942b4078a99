#include "daemon/model/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "daemon/model/checkpoint.h"
#include "daemon/model/load_error.h"
#include "tests/unit/model/safetensors_writer.h"

namespace mm {
namespace {

using testing::file_image;
using testing::RawTensor;

std::vector<uint8_t> f32_bytes(std::initializer_list<float> values) {
  std::vector<uint8_t> out(values.size() * 4);
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

std::vector<RawTensor> good_tensors() {
  return {
      {"a", "F32", {2, 2}, f32_bytes({1.0f, 2.0f, 3.0f, -4.5f})},
      {"b", "BF16", {3}, {0x80, 0x3F, 0x00, 0xC0, 0x00, 0x00}},  // 1.0, -2.0, 0.0
      {"c", "I8", {2}, {0xFF, 0x07}},
      {"empty", "F32", {0, 4}, {}},
      {"scalar", "F8_E4M3", {}, {0x7E}},
  };
}

// Expects parse_safetensors_image to fail with a message containing each of `needles`.
void expect_error(const std::vector<uint8_t>& image, std::initializer_list<std::string> needles) {
  try {
    parse_safetensors_image(image, "bad.safetensors");
    FAIL() << "no error";
  } catch (const LoadError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("bad.safetensors"), std::string::npos) << message;
    for (const std::string& needle : needles) {
      EXPECT_NE(message.find(needle), std::string::npos)
          << "missing '" << needle << "' in " << message;
    }
  }
}

TEST(Safetensors, ParsesAndViewsAGoodFile) {
  auto folder = testing::temp_folder("st-good");
  testing::write_file(folder / "model.safetensors", file_image(good_tensors()));
  SafetensorsFile file(folder / "model.safetensors");
  ASSERT_EQ(file.tensors().size(), 5u);
  EXPECT_EQ(file.metadata().front().first, "format");
  const TensorInfo& a = file.tensors()[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_FLOAT_EQ(file.view(a).get_f32(3), -4.5f);
  EXPECT_FLOAT_EQ(file.view(file.tensors()[1]).get_f32(1), -2.0f);
  EXPECT_EQ(file.view(file.tensors()[2]).get_i64(0), -1);
  EXPECT_EQ(file.tensors()[3].num_elements(), 0);
  EXPECT_FLOAT_EQ(file.view(file.tensors()[4]).get_f32(0), 448.0f);
  EXPECT_EQ(file.data_offset(), 8 + file.header_size());
}

TEST(Safetensors, HeaderMayBePaddedWithSpaces) {
  auto tensors = good_tensors();
  std::vector<uint8_t> data;
  for (auto& t : tensors)
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  std::string header = testing::header_json(tensors);
  header.append(7, ' ');
  EXPECT_EQ(parse_safetensors_image(file_image(header, data), "x").tensors.size(), 5u);
}

TEST(Safetensors, RejectsTooShortFile) {
  expect_error({1, 2, 3}, {"too short"});
}

TEST(Safetensors, RejectsTruncatedFile) {
  auto image = file_image(good_tensors());
  image.resize(image.size() - 3);  // data section now shorter than the offsets claim
  expect_error(image, {"tensor '", "past the data section"});
  auto header_cut = file_image(good_tensors());
  header_cut.resize(20);
  expect_error(header_cut, {"truncated", "bytes 0-7"});
}

TEST(Safetensors, RejectsHugeHeaderLength) {
  std::vector<uint8_t> image(16, 0);
  image[4] = 0x01;  // 2^32 bytes
  expect_error(image, {"exceeds the limit", "100000000"});
}

TEST(Safetensors, RejectsUnknownDType) {
  auto tensors = good_tensors();
  tensors[1].dtype = "F7";
  expect_error(file_image(tensors), {"tensor 'b'", "unknown dtype 'F7'"});
}

TEST(Safetensors, RejectsShapeThatDisagreesWithBytes) {
  auto tensors = good_tensors();
  tensors[0].shape = {2, 3};
  expect_error(file_image(tensors), {"tensor 'a'", "need 24 bytes", "[0, 16)"});
}

TEST(Safetensors, RejectsOverlappingTensors) {
  const std::string header = R"({"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                             R"("y":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
  expect_error(file_image(header, std::vector<uint8_t>(6)), {"tensor 'y'", "overlaps tensor 'x'"});
}

TEST(Safetensors, RejectsHoleBetweenTensors) {
  const std::string header = R"({"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                             R"("y":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})";
  expect_error(file_image(header, std::vector<uint8_t>(6)), {"[2, 4)", "belong to no tensor"});
}

TEST(Safetensors, RejectsTrailingBytes) {
  auto tensors = good_tensors();
  std::vector<uint8_t> data;
  for (auto& t : tensors)
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  data.push_back(0);
  expect_error(file_image(testing::header_json(tensors), data), {"cover only"});
}

TEST(Safetensors, RejectsMalformedJson) {
  expect_error(file_image(std::string(R"({"x":{"dtype":"U8",)"), {}), {"malformed JSON"});
  expect_error(file_image(std::string(R"([1,2])"), {}), {"does not start with '{'"});
  expect_error(file_image(std::string(R"({"x":3})"), {}), {"tensor 'x'", "must be an object"});
  expect_error(
      file_image(std::string(R"({"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})"), {}),
      {"tensor 'x'", "shape"});
  expect_error(file_image(std::string(R"({"__metadata__":{"k":1}})"), {}),
               {"__metadata__.k", "string"});
}

TEST(Safetensors, RejectsDuplicateNames) {
  const std::string header = R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                             R"("x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  expect_error(file_image(header, std::vector<uint8_t>(2)), {"tensor 'x'", "twice"});
}

TEST(Safetensors, RejectsElementCountOverflow) {
  const std::string header =
      R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})";
  expect_error(file_image(header, {}), {"tensor 'x'", "too many elements"});
}

TEST(Safetensors, OpenNamesMissingFile) {
  try {
    SafetensorsFile file("/nonexistent/model.safetensors");
    FAIL();
  } catch (const LoadError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}

// --- sharded checkpoints ---------------------------------------------------------------------

std::string index_json(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string json = R"({"metadata":{"total_size":8},"weight_map":{)";
  for (size_t i = 0; i < entries.size(); ++i) {
    json +=
        (i ? "," : "") + std::string("\"") + entries[i].first + "\":\"" + entries[i].second + "\"";
  }
  return json + "}}";
}

std::filesystem::path two_shard_folder(const std::string& name) {
  auto folder = testing::temp_folder(name);
  testing::write_file(folder / "model-00000-of-00003.safetensors",
                      file_image({{"a", "F32", {1}, f32_bytes({1.0f})}}));
  testing::write_file(folder / "model-00001-of-00003.safetensors",
                      file_image({{"b", "F32", {1}, f32_bytes({2.0f})}}));
  return folder;
}

TEST(Checkpoint, ResolvesTensorsThroughTheIndex) {
  auto folder = two_shard_folder("ckpt-index");
  testing::write_text(folder / "model.safetensors.index.json",
                      index_json({{"a", "model-00000-of-00003.safetensors"},
                                  {"b", "model-00001-of-00003.safetensors"}}));
  Checkpoint checkpoint(folder);
  EXPECT_EQ(checkpoint.shards().size(), 2u);
  TensorRef b = checkpoint.find("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(checkpoint.shard_name(b), "model-00001-of-00003.safetensors");
  EXPECT_FLOAT_EQ(checkpoint.view(b).get_f32(0), 2.0f);
  EXPECT_FALSE(checkpoint.find("c"));
}

void expect_checkpoint_error(const std::filesystem::path& folder,
                             std::initializer_list<std::string> needles) {
  try {
    Checkpoint checkpoint(folder);
    FAIL() << "no error";
  } catch (const LoadError& error) {
    for (const std::string& needle : needles) {
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
    }
  }
}

TEST(Checkpoint, RejectsIndexProblems) {
  auto folder = two_shard_folder("ckpt-bad");
  const auto index = folder / "model.safetensors.index.json";
  testing::write_text(index, index_json({{"a", "model-00000-of-00003.safetensors"},
                                         {"b", "model-00000-of-00003.safetensors"}}));
  expect_checkpoint_error(folder, {"tensor 'b'", "no shard holds it"});

  testing::write_text(index, index_json({{"a", "model-00000-of-00003.safetensors"},
                                         {"b", "model-00002-of-00003.safetensors"}}));
  expect_checkpoint_error(folder, {"model-00002-of-00003.safetensors", "does not exist"});

  testing::write_text(index, index_json({{"a", "model-00000-of-00003.safetensors"},
                                         {"a2", "model-00001-of-00003.safetensors"}}));
  expect_checkpoint_error(folder, {"tensor 'a2'"});

  testing::write_text(index, index_json({{"a", "../model-00000-of-00003.safetensors"}}));
  expect_checkpoint_error(folder, {"outside the folder"});

  testing::write_text(index, "{\"weight_map\": [");
  expect_checkpoint_error(folder, {"model.safetensors.index.json", "malformed JSON"});

  std::filesystem::remove(index);
  expect_checkpoint_error(folder, {"no model.safetensors"});
}

TEST(Checkpoint, RejectsTensorMissingFromIndex) {
  auto folder = two_shard_folder("ckpt-orphan");
  testing::write_file(folder / "model-00001-of-00003.safetensors",
                      file_image({{"b", "F32", {1}, f32_bytes({2.0f})},
                                  {"orphan", "F32", {1}, f32_bytes({3.0f})}}));
  testing::write_text(folder / "model.safetensors.index.json",
                      index_json({{"a", "model-00000-of-00003.safetensors"},
                                  {"b", "model-00001-of-00003.safetensors"}}));
  expect_checkpoint_error(folder, {"tensor 'orphan'", "not listed"});
}

}  // namespace
}  // namespace mm

#include "daemon/text/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include "daemon/text/error.h"

namespace mm::text {

void Normalizer::add(Form form, std::string_view where) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* instance = nullptr;
  switch (form) {
    case Form::kNfc:
      instance = icu::Normalizer2::getNFCInstance(status);
      break;
    case Form::kNfd:
      instance = icu::Normalizer2::getNFDInstance(status);
      break;
    case Form::kNfkc:
      instance = icu::Normalizer2::getNFKCInstance(status);
      break;
    case Form::kNfkd:
      instance = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  if (U_FAILURE(status) || instance == nullptr) {
    throw TextError(std::string(where) + ": ICU normalizer unavailable (" + u_errorName(status) +
                    ")");
  }
  steps_.push_back(instance);
  forms_.push_back(form);
}

std::string Normalizer::apply(std::string_view text) const {
  std::string current(text);
  for (const void* step : steps_) {
    const auto* normalizer = static_cast<const icu::Normalizer2*>(step);
    std::string out;
    icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(current.size()));
    UErrorCode status = U_ZERO_ERROR;
    normalizer->normalizeUTF8(
        0, icu::StringPiece(current.data(), static_cast<int32_t>(current.size())), sink, nullptr,
        status);
    if (U_FAILURE(status)) return current;  // input is valid UTF-8; ICU failing is out of memory
    current.swap(out);
  }
  return current;
}

}  // namespace mm::text

// Strict UTF-8 handling. The tokenizer works on Unicode code points (Python str
// semantics); text arrives as UTF-8 bytes, so it is validated once up front and then
// walked by code point. Lone surrogates cannot be represented in valid UTF-8 and are
// rejected like any other ill-formed sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace viscpm::text {

// Throws TextError(kInvalidUtf8) naming `what`, the byte offset and the problem unless
// `s` is well-formed UTF-8 (Unicode Table 3-7: no overlongs, no surrogates, <= U+10FFFF).
void validate_utf8(std::string_view s, const char* what = "text");

// Byte length of the sequence starting with `lead`; only meaningful on validated text.
inline std::size_t utf8_sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Number of code points of validated UTF-8.
inline int64_t count_code_points(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Appends the UTF-8 encoding of `cp` (must be a Unicode scalar value).
void append_utf8(std::string& out, char32_t cp);

// Decodes validated UTF-8 to code points.
std::u32string decode_utf8(std::string_view s);

}  // namespace viscpm::text

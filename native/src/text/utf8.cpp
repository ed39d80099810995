#include "text/utf8.h"

#include <cstdio>

#include "text/text_error.h"

namespace viscpm::text {
namespace {

[[noreturn]] void throw_invalid(std::string_view s, std::size_t offset, const char* what, const char* problem) {
  // Show the bytes around the problem in hex: they cannot be printed as text.
  std::string bytes;
  for (std::size_t k = offset; k < s.size() && k < offset + 4; ++k) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%s%02X", bytes.empty() ? "" : " ", static_cast<unsigned char>(s[k]));
    bytes += buf;
  }
  std::string message = std::string(what) + " is not valid UTF-8: " + problem + " at byte " +
                        std::to_string(offset) + " (bytes " + bytes + ")";
  throw TextError(TextError::Reason::kInvalidUtf8, static_cast<int64_t>(offset), message, message);
}

}  // namespace

void validate_utf8(std::string_view s, const char* what) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;  // 0xED 0xA0.. would be a UTF-16 surrogate
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else if (c >= 0x80 && c <= 0xBF) {
      throw_invalid(s, i, what, "continuation byte without a lead byte");
    } else if (c == 0xC0 || c == 0xC1) {
      throw_invalid(s, i, what, "overlong encoding");
    } else {
      throw_invalid(s, i, what, "byte that never occurs in UTF-8");
    }
    if (i + len > n) {
      // Report a truncated sequence only if the bytes present are a valid prefix.
      for (std::size_t k = 1; i + k < n; ++k) {
        const unsigned char b = p[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) throw_invalid(s, i, what, "malformed multi-byte sequence");
      }
      throw_invalid(s, i, what, "sequence truncated by the end of the text");
    }
    const unsigned char b1 = p[i + 1];
    if (b1 < lo || b1 > hi) {
      if (c == 0xED && b1 >= 0xA0 && b1 <= 0xBF) throw_invalid(s, i, what, "encoded UTF-16 surrogate (lone surrogate)");
      if ((c == 0xE0 || c == 0xF0) && b1 >= 0x80 && b1 < lo) throw_invalid(s, i, what, "overlong encoding");
      if (c == 0xF4 && b1 > 0x8F && b1 <= 0xBF) throw_invalid(s, i, what, "code point above U+10FFFF");
      throw_invalid(s, i, what, "malformed multi-byte sequence");
    }
    for (std::size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) throw_invalid(s, i, what, "malformed multi-byte sequence");
    }
    i += len;
  }
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(p[i]);
    char32_t cp = len == 1 ? p[i] : len == 2 ? (p[i] & 0x1F) : len == 3 ? (p[i] & 0x0F) : (p[i] & 0x07);
    for (std::size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

}  // namespace viscpm::text

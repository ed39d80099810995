#include "mutator.h"

#include <algorithm>
#include <cstring>

namespace viscpm::fuzz {
namespace {

constexpr uint8_t kInterestingBytes[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x0f, 0x10, 0x1f, 0x20, 0x3f, 0x40,
                                         0x7e, 0x7f, 0x80, 0x81, 0xc0, 0xfe, 0xff, '0', '9', '-', '.',
                                         '<', '>', '"', '{', '}', '[', ']', ',', ':', '\n', 'e'};

void put(Bytes& data, size_t at, uint64_t value, size_t width, bool big_endian) {
  for (size_t i = 0; i < width; ++i) {
    size_t shift = 8 * (big_endian ? width - 1 - i : i);
    data[at + i] = static_cast<char>((value >> shift) & 0xff);
  }
}

uint64_t get(const Bytes& data, size_t at, size_t width, bool big_endian) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) {
    size_t shift = 8 * (big_endian ? width - 1 - i : i);
    v |= uint64_t(static_cast<uint8_t>(data[at + i])) << shift;
  }
  return v;
}

}  // namespace

uint64_t Mutator::interesting_integer(uint64_t hint) {
  switch (below(12)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return ~uint64_t(0);  // -1
    case 3: return uint64_t(1) << below(64);
    case 4: return (uint64_t(1) << below(64)) - 1;
    case 5: return (uint64_t(1) << below(64)) + 1;
    case 6: return uint64_t(0x7fffffff) + below(3);          // 2^31 - 1 .. 2^31 + 1
    case 7: return uint64_t(0xffffffff) + below(3);          // 2^32 - 1 .. 2^32 + 1
    case 8: return uint64_t(0x7fffffffffffffff) + below(3);  // 2^63 - 1 .. 2^63 + 1
    case 9: return uint64_t(1'000'000'000'000'000);         // a 1e15-element claim
    case 10: return hint + below(3) - 1;                     // a size +- 1
    default: return below(256);
  }
}

std::string Mutator::interesting_number_text(uint64_t hint) {
  switch (below(10)) {
    case 0: return "-" + std::to_string(interesting_integer(hint) & 0x7fffffffffffffff);
    case 1: return std::to_string(below(1000)) + "." + std::to_string(below(1000));
    case 2: return "1e" + std::to_string(below(400));
    case 3: return "-1e" + std::to_string(below(400));
    case 4: return "18446744073709551616";  // 2^64: does not fit any integer type
    case 5: return "NaN";
    case 6: return "1e15";
    default: return std::to_string(interesting_integer(hint));
  }
}

const char* Mutator::mutate_once(Bytes& data, size_t max_len) {
  const size_t limit = std::max(max_len, data.size());
  const size_t n = data.size();
  // Range lengths favour short ranges: 1..4, 1..16, 1..256, 1..n.
  auto range_len = [&](size_t available) -> size_t {
    static constexpr size_t kScales[] = {4, 16, 256, SIZE_MAX};
    size_t cap = std::min(available, kScales[below(4)]);
    return cap == 0 ? 0 : 1 + below(cap);
  };
  for (int attempt = 0; attempt < 16; ++attempt) {
    switch (below(16)) {
      case 0:  // flip one bit
        if (n == 0) break;
        data[below(n)] ^= static_cast<char>(1u << below(8));
        return "flip_bit";
      case 1:  // random byte
        if (n == 0) break;
        data[below(n)] = static_cast<char>(below(256));
        return "random_byte";
      case 2:  // interesting byte
        if (n == 0) break;
        data[below(n)] = static_cast<char>(kInterestingBytes[below(sizeof kInterestingBytes)]);
        return "interesting_byte";
      case 3: {  // interesting 16/32/64-bit value
        static constexpr size_t kWidths[] = {2, 4, 8};
        size_t width = kWidths[below(3)];
        if (n < width) break;
        put(data, below(n - width + 1), interesting_integer(n), width, percent(25));
        return "interesting_word";
      }
      case 4: {  // small arithmetic on an integer
        static constexpr size_t kWidths[] = {1, 2, 4, 8};
        size_t width = kWidths[below(4)];
        if (n < width) break;
        size_t at = below(n - width + 1);
        bool be = percent(30);
        uint64_t delta = 1 + below(35);
        uint64_t v = get(data, at, width, be);
        put(data, at, percent(50) ? v + delta : v - delta, width, be);
        return "arith";
      }
      case 5: {  // insert random bytes, or one byte repeated
        if (n >= limit) break;
        size_t len = std::min(range_len(32), limit - n);
        Bytes chunk(len, static_cast<char>(below(256)));
        if (percent(50))
          for (auto& c : chunk) c = static_cast<char>(below(256));
        data.insert(below(n + 1), chunk);
        return "insert";
      }
      case 6: {  // erase a range
        if (n < 2) break;
        size_t len = range_len(n - 1);
        data.erase(below(n - len + 1), len);
        return "erase";
      }
      case 7: {  // duplicate a range in place (grows repeated structures)
        if (n == 0 || n >= limit) break;
        size_t len = std::min(range_len(n), limit - n);
        size_t from = below(n - len + 1);
        Bytes chunk = data.substr(from, len);
        data.insert(percent(50) ? from : below(n + 1), chunk);
        return "duplicate";
      }
      case 8: {  // overwrite a range with a copy of another
        if (n < 2) break;
        size_t len = range_len(n / 2);
        size_t from = below(n - len + 1), to = below(n - len + 1);
        std::memmove(&data[to], data.data() + from, len);
        return "copy";
      }
      case 9: {  // splice with another corpus entry
        if (!corpus_ || corpus_->empty()) break;
        const Bytes& other = (*corpus_)[below(corpus_->size())];
        if (other.empty()) break;
        if (percent(50)) {  // crossover: our prefix, their suffix
          size_t cut = below(n + 1), from = below(other.size());
          Bytes out = data.substr(0, cut) + other.substr(from);
          if (out.size() > limit) out.resize(limit);
          data.swap(out);
        } else {  // insert or overwrite with a chunk of theirs
          size_t len = range_len(other.size());
          Bytes chunk = other.substr(below(other.size() - len + 1), len);
          if (percent(50) && n >= len) {
            data.replace(below(n - len + 1), len, chunk);
          } else {
            if (n + len > limit) break;
            data.insert(below(n + 1), chunk);
          }
        }
        return "splice";
      }
      case 10:  // truncate
        if (n == 0) break;
        data.resize(percent(50) ? below(n) : n - range_len(n));
        return "truncate";
      case 11: {  // extend: zeros, random bytes or a copy of the start
        if (n >= limit) break;
        size_t len = std::min(range_len(256), limit - n);
        switch (below(3)) {
          case 0: data.append(len, '\0'); break;
          case 1:
            for (size_t i = 0; i < len; ++i) data.push_back(static_cast<char>(below(256)));
            break;
          default: data.append(data.substr(0, std::min(len, n))); break;
        }
        return "extend";
      }
      case 12:
      case 13: {  // dictionary token, inserted or overwriting
        if (!dictionary_ || dictionary_->empty()) break;
        const Bytes& token = (*dictionary_)[below(dictionary_->size())];
        if (percent(50) && n >= token.size()) {
          data.replace(below(n - token.size() + 1), token.size(), token);
        } else {
          if (n + token.size() > limit) break;
          data.insert(below(n + 1), token);
        }
        return "dictionary";
      }
      case 14: {  // an ASCII number replaced by an interesting one
        if (n == 0) break;
        size_t start = below(n), pos = start;
        while (pos < n && !(data[pos] >= '0' && data[pos] <= '9')) ++pos;
        if (pos == n) break;
        size_t end = pos;
        while (end < n && ((data[end] >= '0' && data[end] <= '9') || data[end] == '.' || data[end] == 'e')) ++end;
        std::string number = interesting_number_text(n);
        if (n - (end - pos) + number.size() > limit) break;
        data.replace(pos, end - pos, number);
        return "number";
      }
      default: {  // shuffle a short range
        if (n < 2) break;
        size_t len = std::min<size_t>(2 + below(7), n);
        size_t at = below(n - len + 1);
        std::shuffle(data.begin() + static_cast<std::ptrdiff_t>(at),
                     data.begin() + static_cast<std::ptrdiff_t>(at + len), rng_);
        return "shuffle";
      }
    }
  }
  // Nothing applied (empty input at the size limit): start over from one random byte.
  data.assign(1, static_cast<char>(below(256)));
  return "reset";
}

void Mutator::mutate(Bytes& data, size_t max_len) {
  // 1 mutation half of the time, up to 8 otherwise (libFuzzer stacks up to 5 by default).
  size_t count = percent(50) ? 1 : 2 + below(7);
  for (size_t i = 0; i < count; ++i) mutate_once(data, max_len);
}

}  // namespace viscpm::fuzz

// Byte-level mutations in the manner of libFuzzer's MutationDispatcher, deterministic for
// a given seed: bit flips, bytes set to interesting values, interesting 16/32/64-bit
// integers (little- and big-endian, sizes of the input among them), small arithmetic,
// insert / delete / duplicate / copy ranges, splice with another corpus entry, truncate /
// extend, dictionary tokens and ASCII numbers replaced by interesting ones. Each call
// stacks 1..8 of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fuzz.h"

namespace viscpm::fuzz {

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  uint64_t next() { return rng_(); }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }
  bool percent(unsigned p) { return below(100) < p; }

  // Entries the splice mutations may take bytes from (may be null or empty).
  void set_corpus(const std::vector<Bytes>* corpus) { corpus_ = corpus; }
  void set_dictionary(const std::vector<Bytes>* dictionary) { dictionary_ = dictionary; }

  // 1..8 stacked mutations; the result is at most max(max_len, data.size() before) bytes.
  void mutate(Bytes& data, size_t max_len);
  // Exactly one mutation (returns its name).
  const char* mutate_once(Bytes& data, size_t max_len);

  // A value worth putting into a number field: 0, +-1, powers of two and their
  // neighbours, 2^31, 2^32, 2^63, 1e15 (an absurd element count), `hint` +- 1 (a size).
  uint64_t interesting_integer(uint64_t hint = 0);
  // The same as decimal text, sometimes negative, fractional or in exponent form.
  std::string interesting_number_text(uint64_t hint = 0);

 private:
  std::mt19937_64 rng_;
  const std::vector<Bytes>* corpus_ = nullptr;
  const std::vector<Bytes>* dictionary_ = nullptr;
};

}  // namespace viscpm::fuzz

// Outcome bookkeeping and file helpers shared by the targets.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "fuzz.h"
#include "io/crc32.h"

namespace viscpm::fuzz {
namespace {

thread_local std::string g_outcome;
bool g_verbose = false;

// "FORMAT_ERROR:/dev/shm/x.pt: tensor 'a.b' declares 12 elements (at byte 7)" ->
// "FORMAT_ERROR:: tensor '' declares # elements ()": paths, quoted names, numbers and
// parenthesised details vary between inputs that took the same path through the code.
std::string normalise(const viscpm::Error& e) {
  std::string out = error_code_name(e.code());
  out += ':';
  const std::string message = e.what();
  char quote = 0;
  size_t quoted = 0;  // length of the quoted span so far
  bool in_number = false;
  for (size_t i = 0; i < message.size() && out.size() < 80; ++i) {
    char c = message[i];
    if (quote) {  // a quoted name ends at its quote followed by punctuation or the end
      if (++quoted > 48) break;  // a mangled name with quotes inside: the rest is noise
      const char after = i + 1 < message.size() ? message[i + 1] : ' ';
      if (c == quote && (after == ' ' || after == ',' || after == ')' || after == ':' || after == ';' ||
                         after == '\n')) {
        quote = 0;
        out += c;
      }
      continue;
    }
    if (c == '/' && (i == 0 || message[i - 1] == ' ' || message[i - 1] == '(')) {  // a path
      while (i + 1 < message.size() && message[i + 1] != ' ' && message[i + 1] != ':') ++i;
      continue;
    }
    if (c == '(') {  // parenthesised details: byte offsets, hex dumps, file sizes, parser messages
      size_t close = message.rfind(')');
      i = close > i ? close : message.size();
      out += "()";
      continue;
    }
    // Numbers, with their sign, fraction and exponent; a list of them is one '#'.
    const bool digit = c >= '0' && c <= '9';
    if (digit || (in_number && (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))) {
      if (!in_number) {
        if (!out.empty() && out.back() == '-') out.pop_back();
        if (out.size() >= 2 && out.compare(out.size() - 2, 2, "#,") == 0) out.pop_back();
        else out += '#';
      }
      in_number = true;
      continue;
    }
    in_number = false;
    if (c == '|') c = '/';  // '|' separates the steps of an outcome
    if (c == '<') {  // a special token spelled by the user: <ans_1>, <foo>
      size_t close = message.find('>', i + 2);  // "<>x>" is one token too
      if (close == std::string::npos || close - i > 64) break;
      out += "<>";
      i = close;
      continue;
    }
    if (c == '`') {  // user text in backticks (tokenizer messages): may hold anything, even backticks
      size_t last = message.rfind('`');
      out += "``";
      if (last <= i) break;  // what() ends at a NUL inside the text: the rest is lost anyway
      i = last;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      quoted = 0;
    }
    out += c;
  }
  // The first words say which check refused the input; later ones tend to quote it.
  size_t words = 0;
  for (size_t k = 0; k < out.size(); ++k)
    if (out[k] == ' ' && ++words == 8) {
      out.resize(k);
      break;
    }
  return out;
}

}  // namespace

void reset_outcome() { g_outcome.clear(); }
void note_ok() { g_outcome += "ok|"; }
void note_error(const viscpm::Error& e) {
  std::string text = g_verbose ? std::string(error_code_name(e.code())) + ": " + e.what() : normalise(e);
  std::replace(text.begin(), text.end(), '|', '/');  // '|' separates the steps
  g_outcome += text;
  g_outcome += '|';
}
const std::string& outcome() { return g_outcome; }
void set_verbose_outcomes(bool verbose) { g_verbose = verbose; }

Bytes read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HarnessError("cannot read " + path.string());
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw HarnessError("cannot write " + path.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw HarnessError("cannot write " + path.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

std::filesystem::path scratch_file(const Context& context, const std::string& target, const std::string& extension) {
  return context.scratch / (target + extension);
}

std::filesystem::path fixture(const Context& context, const std::string& relative) {
  auto path = context.fixtures / relative;
  if (!std::filesystem::exists(path)) throw HarnessError("fixture missing: " + path.string());
  return path;
}

uint32_t crc32_of(const void* data, size_t size) { return viscpm::io::crc32(data, size); }

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace viscpm::fuzz

// Outcome bookkeeping and file helpers shared by the targets.
#include <fcntl.h>
#include <unistd.h>

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
  for (size_t i = 0; i < message.size() && out.size() < 96; ++i) {
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
    if (c == '(') {  // parenthesised details: byte offsets, hex dumps, file sizes
      while (i + 1 < message.size() && message[i + 1] != ')') ++i;
      ++i;
      out += "()";
      continue;
    }
    if (c >= '0' && c <= '9') {
      if (!in_number) out += '#';
      in_number = true;
      continue;
    }
    in_number = false;
    if (c == '\'' || c == '`' || c == '"') {
      quote = c;
      quoted = 0;
    }
    out += c;
  }
  return out;
}

}  // namespace

void reset_outcome() { g_outcome.clear(); }
void note_ok() { g_outcome += "ok|"; }
void note_error(const viscpm::Error& e) {
  g_outcome += g_verbose ? std::string(error_code_name(e.code())) + ": " + e.what() : normalise(e);
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

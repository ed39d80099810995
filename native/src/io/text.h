// Names read from files end up in exception messages that cross into Java: keep them
// valid, printable UTF-8.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace viscpm::io {

bool is_valid_utf8(std::string_view text);
// Control characters and bytes that are not valid UTF-8 become '?'.
std::string printable(std::string_view text);

// Whole contents of a small text file (a model config) named `what` in messages: NotFound
// when missing, InvalidArgument for a folder, IoError when unreadable, FormatError beyond 16 MB.
std::string read_config_file(const std::filesystem::path& path, const std::string& what);

// Writes `text` to `path` (binary, replacing it), creating the parent folders; IoError on failure.
void write_text_file(const std::filesystem::path& path, const std::string& text);

}  // namespace viscpm::io

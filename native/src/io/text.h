// Names read from files end up in exception messages that cross into Java: keep them
// valid, printable UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace viscpm::io {

bool is_valid_utf8(std::string_view text);
// Control characters and bytes that are not valid UTF-8 become '?'.
std::string printable(std::string_view text);

}  // namespace viscpm::io

// Typed errors of the text layer. Every one is an InvalidArgument (bad user text or
// structure); the reason, the offending position and the reference implementation's
// own message are kept apart so callers can point at the character and parity checks
// can compare the reference wording exactly.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace viscpm::text {

class TextError : public InvalidArgument {
 public:
  enum class Reason {
    kInvalidUtf8,          // bytes that are not UTF-8 (incl. encoded lone surrogates)
    kUnexpectedEnd,        // '<' opened a special token that never closes
    kInvalidSpecialToken,  // '<' inside a special token
    kInvalidToken,         // <name_x> whose class <name> is not a vocabulary special token
    kInvalidData,          // structured input is not a tree of strings
    kNoAnswer,             // generation input without an answer placeholder left
    kInvalidAnswerNumber,  // <ans_N> with N not an integer
  };

  TextError(Reason reason, int64_t position, std::string reference_message, const std::string& message)
      : InvalidArgument(message), reason_(reason), position_(position),
        reference_message_(std::move(reference_message)) {}

  Reason reason() const { return reason_; }
  // Code point index of the offending character in the text handed to the tokenizer;
  // a byte offset for kInvalidUtf8; -1 when the error is not about one character.
  int64_t position() const { return position_; }
  // The message the reference implementation raises (ValueError text) for the same input.
  const std::string& reference_message() const { return reference_message_; }

 private:
  Reason reason_;
  int64_t position_;
  std::string reference_message_;
};

}  // namespace viscpm::text

#include "api/guard.h"
#include "text/tokenizer.h"


struct viscpm_tokenizer {
  explicit viscpm_tokenizer(viscpm::text::Tokenizer t) : tokenizer(std::move(t)) {}
  viscpm::text::Tokenizer tokenizer;
};

struct viscpm_string_list {
  std::vector<std::string> items;
};

struct viscpm_encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> ext_texts;  // index = id - vocab_size
};

using namespace viscpm::api;

namespace {

std::string_view text_view(const char* text, int64_t bytes) {
  if (!text && bytes > 0) throw viscpm::InvalidArgument("text is null");
  if (bytes < 0) throw viscpm::InvalidArgument("negative text length");
  return bytes ? std::string_view(text, static_cast<size_t>(bytes)) : std::string_view();
}

}  // namespace

extern "C" {

viscpm_status viscpm_tokenizer_load(const char* vocab_path, viscpm_tokenizer** out) {
  return guarded([&] {
    if (!vocab_path) throw viscpm::InvalidArgument("vocabulary path is null");
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    *out = new viscpm_tokenizer(viscpm::text::Tokenizer::from_file(vocab_path));
  });
}

void viscpm_tokenizer_free(viscpm_tokenizer* tokenizer) { delete tokenizer; }

int32_t viscpm_tokenizer_vocab_size(const viscpm_tokenizer* tokenizer) {
  return tokenizer ? tokenizer->tokenizer.vocab_size() : 0;
}

viscpm_status viscpm_tokenizer_encode(const viscpm_tokenizer* tokenizer, const char* text, int64_t text_bytes,
                                      viscpm_encoding** out) {
  return guarded([&] {
    const auto& tok = require(tokenizer, "tokenizer").tokenizer;
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    auto encoded = tok.encode(text_view(text, text_bytes));
    auto result = std::make_unique<viscpm_encoding>();
    result->ids = std::move(encoded.ids);
    for (auto& [id, s] : encoded.ext_table.items()) result->ext_texts.push_back(s);
    *out = result.release();
  });
}

void viscpm_encoding_free(viscpm_encoding* encoding) { delete encoding; }

int64_t viscpm_encoding_count(const viscpm_encoding* encoding) {
  return encoding ? static_cast<int64_t>(encoding->ids.size()) : 0;
}

viscpm_status viscpm_encoding_ids(const viscpm_encoding* encoding, int32_t* dst, int64_t capacity) {
  return guarded([&] {
    const auto& e = require(encoding, "encoding");
    if (capacity < static_cast<int64_t>(e.ids.size()))
      throw viscpm::InvalidArgument("buffer holds " + std::to_string(capacity) + " ids; " +
                                    std::to_string(e.ids.size()) + " needed");
    if (!e.ids.empty()) std::copy(e.ids.begin(), e.ids.end(), dst);
  });
}

int64_t viscpm_encoding_ext_count(const viscpm_encoding* encoding) {
  return encoding ? static_cast<int64_t>(encoding->ext_texts.size()) : 0;
}

const char* viscpm_encoding_ext_text(const viscpm_encoding* encoding, int64_t index, int64_t* text_bytes_out) {
  if (!encoding || index < 0 || index >= static_cast<int64_t>(encoding->ext_texts.size())) return nullptr;
  if (text_bytes_out) *text_bytes_out = static_cast<int64_t>(encoding->ext_texts[index].size());
  return encoding->ext_texts[index].c_str();
}

int64_t viscpm_string_list_count(const viscpm_string_list* list) {
  return list ? static_cast<int64_t>(list->items.size()) : 0;
}

const char* viscpm_string_list_get(const viscpm_string_list* list, int64_t index, int64_t* bytes_out) {
  if (!list || index < 0 || index >= static_cast<int64_t>(list->items.size())) return nullptr;
  if (bytes_out) *bytes_out = static_cast<int64_t>(list->items[index].size());
  return list->items[index].c_str();
}

void viscpm_string_list_free(viscpm_string_list* list) { delete list; }

viscpm_status viscpm_tokenizer_tokenize(const viscpm_tokenizer* tokenizer, const char* text, int64_t text_bytes,
                                        viscpm_string_list** pieces_out) {
  return guarded([&] {
    const auto& tok = require(tokenizer, "tokenizer").tokenizer;
    require_out(pieces_out);
    auto list = std::make_unique<viscpm_string_list>();
    for (const auto& piece : tok.tokenize(text_view(text, text_bytes))) list->items.push_back(piece.text);
    *pieces_out = list.release();
  });
}

viscpm_status viscpm_tokenizer_decode(const viscpm_tokenizer* tokenizer, const int32_t* ids, int64_t count,
                                      const char* const* ext_texts, const int64_t* ext_bytes, int64_t ext_count,
                                      char** text_out, int64_t* text_bytes_out) {
  return guarded([&] {
    const auto& tok = require(tokenizer, "tokenizer").tokenizer;
    if (!text_out) throw viscpm::InvalidArgument("output pointer is null");
    if (count < 0 || (count > 0 && !ids)) throw viscpm::InvalidArgument("bad id array");
    if (ext_count < 0 || (ext_count > 0 && (!ext_texts || !ext_bytes))) throw viscpm::InvalidArgument("bad ext table");
    viscpm::text::ExtTable table(tok.vocab_size());
    for (int64_t i = 0; i < ext_count; ++i) {
      if (!ext_texts[i]) throw viscpm::InvalidArgument("ext table entry " + std::to_string(i) + " is null");
      if (ext_bytes[i] < 0) throw viscpm::InvalidArgument("negative length of ext table entry " + std::to_string(i));
      if (table.intern(std::string_view(ext_texts[i], static_cast<size_t>(ext_bytes[i]))) != tok.vocab_size() + i)
        throw viscpm::InvalidArgument("ext table entry " + std::to_string(i) + " repeats an earlier entry");
    }
    // The reference's decode skips negative ids silently; a caller passing one has a bug.
    for (int64_t i = 0; i < count; ++i)
      if (ids[i] < 0)
        throw viscpm::InvalidArgument("cannot decode token id " + std::to_string(ids[i]) + " at position " +
                                      std::to_string(i) + ": token ids are >= 0");
    std::string text = tok.decode(std::vector<int32_t>(ids, ids + count), table);
    if (text_bytes_out) *text_bytes_out = static_cast<int64_t>(text.size());
    *text_out = copy_string(text);
  });
}

}  // extern "C"


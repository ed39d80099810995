// Golden kind `tokenizer`: ids, ext table, pieces and decoded text of each text, and the
// error (type and message) of each text the reference rejects.
#include "testkit/parity/kinds.h"
#include "testkit/kinds/text_support.h"
#include "text/tokenizer.h"

namespace viscpm::parity {

using text::Tokenizer;

namespace {

json ext_table_json(const text::ExtTable& table) {
  json out = json::object();
  for (const auto& [id, s] : table.items()) out[std::to_string(id)] = s;
  return out;
}

std::string reference_error_type(const text::TextError& e) {
  return e.reason() == text::TextError::Reason::kInvalidUtf8 ? "UnicodeDecodeError" : "ValueError";
}

}  // namespace

void run_tokenizer(const Case& c, Result& r) {
  const auto tokenizer = text::parity_tokenizer(c);
  const json& inputs = c.inputs_json();
  json actual = json::object();
  actual["cases"] = json::array();
  for (const auto& t : inputs.at("texts")) {
    const std::string s = t.get<std::string>();
    json entry = json::object();
    entry["text"] = s;
    try {
      const text::Encoded encoded = tokenizer->encode(s);
      json pieces = json::array();
      for (const auto& p : tokenizer->tokenize(s)) pieces.push_back(p.text);
      entry["ids"] = encoded.ids;
      entry["pieces"] = pieces;
      entry["ext_table"] = ext_table_json(encoded.ext_table);
      entry["decoded"] = tokenizer->decode(encoded.ids, encoded.ext_table);
    } catch (const text::TextError& e) {
      entry["error"] = e.what();  // shows up as a mismatch against the expected fields
    }
    actual["cases"].push_back(entry);
  }
  actual["errors"] = json::array();
  for (const auto& t : inputs.value("error_texts", json::array())) {
    const std::string s = t.get<std::string>();
    json entry = json::object();
    entry["text"] = s;
    try {
      tokenizer->encode(s);
      entry["error"] = nullptr;
      entry["message"] = nullptr;
    } catch (const text::TextError& e) {
      entry["error"] = reference_error_type(e);
      entry["message"] = e.reference_message();
    }
    actual["errors"].push_back(entry);
  }
  r.compare_json(c, "json", actual, c.expected_json());
}

}  // namespace viscpm::parity

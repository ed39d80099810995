// Text targets: the CPM-Bee tokenizer over mutated text (real vocabulary), vocabulary
// loading from mutated vocabulary files, and the structured input (chat / paint requests).
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>
#include <sstream>

#include "mutator.h"
#include "targets.h"
#include "text/structured_input.h"
#include "text/tokenizer.h"

namespace viscpm::fuzz {
namespace {

using namespace std::string_literals;

using viscpm::text::ordered_json;
using viscpm::text::Tokenizer;

std::unique_ptr<Tokenizer> g_tokenizer;  // bee.txt, loaded once
std::filesystem::path g_vocab_file;

void init_text(const Context& context) {
  if (!g_tokenizer) g_tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_file(fixture(context, "vocab/bee.txt")));
  g_vocab_file = scratch_file(context, "vocab", ".txt");
}

uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

// ---- seeds ---------------------------------------------------------------------------------

ordered_json read_json(const std::filesystem::path& path) { return ordered_json::parse(read_bytes(path)); }

// Texts of the tokenizer case (valid and erroneous), the chat and paint cases, and a few
// hundred vocabulary words run together.
std::vector<Bytes> text_seeds(const Context& context) {
  std::vector<Bytes> out;
  ordered_json cases = read_json(fixture(context, "cases/tokenizer/inputs.json"));
  for (const auto& t : cases.at("texts")) out.push_back(t.get<std::string>());
  for (const auto& t : cases.at("error_texts")) out.push_back(t.get<std::string>());
  for (const char* c : {"cases/chat_input_0/inputs.json", "cases/chat_input_1/inputs.json"}) {
    ordered_json j = read_json(fixture(context, c));
    out.push_back(j.at("question").get<std::string>());
    out.push_back(j.at("context").get<std::string>());
  }
  out.push_back(read_json(fixture(context, "cases/paint_input/inputs.json")).at("prompt").get<std::string>());
  std::istringstream vocab(read_bytes(fixture(context, "vocab/bee.txt")));
  std::string line, words;
  for (int i = 0; std::getline(vocab, line); ++i)
    if (i % 211 == 0) words += line;
  out.push_back(words.substr(0, 2000));
  out.push_back("<ans_1><image_0><foo_bar> <<x>> </s><s><unk>\xf0\x9f\x90\xbc\xe6\x9d\xb1");
  out.push_back("\xed\xa0\x80 lone surrogate, \xc0\xaf overlong, \xf4\x90\x80\x80 too high");
  return out;
}

// Vocabulary files: the first 11 lines (every special the loader requires) plus samples of
// the rest, with \n, \r\n and \r line ends.
std::vector<Bytes> vocab_seeds(const Context& context) {
  std::istringstream vocab(read_bytes(fixture(context, "vocab/bee.txt")));
  std::vector<std::string> lines;
  for (std::string line; std::getline(vocab, line);) lines.push_back(line);
  auto sample = [&](size_t every, size_t limit, const char* eol) {
    Bytes out;
    for (size_t i = 0; i < lines.size() && out.size() < limit; ++i)
      if (i < 11 || i % every == 0) out += lines[i] + eol;
    return out;
  };
  return {sample(1, 200, "\n"), sample(1, 4000, "\n"), sample(37, 20000, "\n"), sample(97, 6000, "\r\n"),
          sample(301, 3000, "\r")};
}

// Chat and paint requests as the pipelines build them, the case inputs, and shapes the
// converter must handle or refuse (nesting, <ans> trees, images, non-string leaves).
std::vector<Bytes> request_seeds(const Context& context) {
  std::vector<Bytes> out;
  for (const char* c : {"cases/chat_input_0/inputs.json", "cases/chat_input_1/inputs.json"}) {
    ordered_json j = read_json(fixture(context, c));
    out.push_back(viscpm::text::chat_turn_data(j.at("query_num").get<int>(), j.at("context").get<std::string>(),
                                               j.at("question").get<std::string>())
                      .dump());
    out.push_back(j.dump());
  }
  for (const char* c : {"cases/paint_input/inputs.json", "cases/chat_beam_search/inputs.json"}) {
    ordered_json j = read_json(fixture(context, c));
    out.push_back(j.dump());
    if (j.contains("prompt")) out.push_back(viscpm::text::paint_caption_data(j.at("prompt").get<std::string>()).dump());
  }
  out.push_back(R"({"context":"a","question":{"q1":"x <ans_2>","q2":{"deep":{"deeper":"y"}}},"<ans>":{"a":"","b":{"c":""}}})");
  out.push_back(R"({"image":"<unk><unk><unk>","<ans>":"<ans_1>","x":"<image_0><image_1> <foo_3>"})");
  out.push_back(R"({"<ans>":{"x":"<ans_abc>"},"n":"<ans_ 1_0 >"})");
  out.push_back(R"({"a":["list"],"<ans>":""})");
  out.push_back(R"({"a":1.5,"b":null,"c":true,"<ans>":""})");
  out.push_back(R"("just a string")");
  out.push_back(R"({"caption":"","objects":""})");
  return out;
}

std::vector<Bytes> text_dictionary() {
  return {"<"s, ">"s, "<<"s, "<ans>"s, "<ans_1>"s, "<ans_"s, "<unk>"s, "<s>"s, "</s>"s, "</n>"s, "</_>"s, "<image_0>"s, "_"s,
          "\n"s, "\r\n"s, " "s, "\t"s, "\xe4\xb8\x80"s, "\xf0\x9f\x90\xb1"s, "\xed\xa0\x80"s, "\xc0\x80"s, "\xf4\x90\x80\x80"s,
          "\xef\xbb\xbf"s, "\xe2\x80\xa8"s, "\x00"s};
}

std::vector<Bytes> request_dictionary() {
  std::vector<Bytes> d = text_dictionary();
  for (const char* t : {"{", "}", "[", "]", "\"", ":", ",", "\"<ans>\":", "\"image\":", "\"context\":",
                        "\"question\":", "{\"a\":", "\"\"", "null", "1", "\\u0000", "\\ud83d\\udc31", "\\\""})
    d.push_back(t);
  return d;
}

// Up to two string leaves of a request, depth first.
void string_leaves(const ordered_json& j, std::vector<std::string>& out, int depth = 0) {
  if (out.size() >= 2 || depth > 64) return;
  if (j.is_string()) {
    out.push_back(j.get<std::string>());
  } else if (j.is_structured()) {
    for (const auto& v : j) string_leaves(v, out, depth + 1);
  }
}

}  // namespace

int fuzz_tokenizer(const uint8_t* data, size_t size) {
  const Tokenizer& tok = *g_tokenizer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  step([&] { (void)tok.tokenize(text); });
  step([&] {  // text round-trips through ids (specials verbatim, "<<" stays "<<")
    auto encoded = tok.encode(text);
    if (tok.decode(encoded.ids, encoded.ext_table) != text) oracle_failed("decode(encode(text)) != text");
  });
  step([&] {  // the escaped form always encodes, and round-trips
    std::string escaped = Tokenizer::escape(text);
    if (Tokenizer::unescape(escaped) != text) oracle_failed("unescape(escape(text)) != text");
    auto encoded = tok.encode(escaped);
    if (tok.decode(encoded.ids, encoded.ext_table) != escaped) oracle_failed("decode(encode(escape(text))) != escape(text)");
  });
  step([&] {  // ids taken from the bytes: in the vocabulary, just past it, negative
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 4 <= size && ids.size() < 256; i += 4) {
      uint32_t v = le32(data + i);
      ids.push_back((v & 3) == 0 ? static_cast<int32_t>(v) : static_cast<int32_t>(v % (tok.vocab_size() + 8)) - 4);
    }
    (void)tok.decode(ids);
    for (size_t i = 0; i < ids.size() && i < 8; ++i) (void)tok.word(ids[i]);
  });
  return 0;
}

int fuzz_vocab(const uint8_t* data, size_t size) {
  write_bytes(g_vocab_file, data, size);
  step([&] {
    Tokenizer tok = Tokenizer::from_file(g_vocab_file);
    for (const char* text : {"The quick brown fox, 今天天气真不错 <ans_1> <<b>> \n two  spaces", "<s>x</s><unk>"}) {
      auto encoded = tok.encode(text);
      (void)tok.decode(encoded.ids, encoded.ext_table);
    }
    // The vocabulary's own lines as text (bounded): any id it yields must decode.
    auto encoded = tok.encode(Tokenizer::escape(std::string_view(reinterpret_cast<const char*>(data), std::min<size_t>(size, 512))));
    (void)tok.decode(encoded.ids, encoded.ext_table);
    for (int32_t id = 0; id < tok.vocab_size() && id < 16; ++id) (void)tok.word(id);
  });
  return 0;
}

int fuzz_structured_input(const uint8_t* data, size_t size) {
  const Tokenizer& tok = *g_tokenizer;
  // JSON syntax is nlohmann's business; the runtime sees parsed trees.
  ordered_json request = ordered_json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return 0;
  step([&] {
    auto converted = viscpm::text::convert_to_ids(tok, request);
    (void)converted.input_ids_tensor();
    (void)converted.segment_rel_tensor();
    (void)converted.image_bound_tensor();
    auto forward = viscpm::text::collate_for_forward(converted, static_cast<int64_t>(converted.input_ids.size() + size % 5));
    if (forward.input_ids.size(1) != static_cast<int64_t>(converted.input_ids.size() + size % 5))
      oracle_failed("collate_for_forward did not pad to the requested length");
  });
  step([&] {
    auto g = viscpm::text::prepare_generation_input(tok, request);
    if (g.length > viscpm::text::kChatMaxInputLength) oracle_failed("generation input longer than max_inp_length");
  });
  step([&] { (void)viscpm::text::prepare_generation_input(tok, request, static_cast<int64_t>(size % 97)); });
  std::vector<std::string> leaves;
  string_leaves(request, leaves);
  leaves.resize(2);
  step([&] { (void)viscpm::text::prepare_generation_input(tok, viscpm::text::chat_turn_data(4, leaves[0], leaves[1])); });
  step([&] {
    auto p = viscpm::text::build_paint_inputs(tok, leaves[0], leaves[1]);
    if (p.cond.input_ids.sizes() != p.uncond.input_ids.sizes()) oracle_failed("paint cond and uncond differ in length");
  });
  return 0;
}

void add_text_targets(std::vector<Target>& out) {
  out.push_back({"tokenizer", "CPM-Bee tokenizer (bee.txt): tokenize, encode/decode round trips, decode of raw ids",
                 init_text, fuzz_tokenizer, text_seeds, nullptr, 4096, text_dictionary});
  out.push_back({"vocab", "vocabulary file loading (Tokenizer::from_file) and encoding with the loaded vocabulary",
                 init_text, fuzz_vocab, vocab_seeds, nullptr, 64u << 10, text_dictionary});
  out.push_back({"structured_input",
                 "CPM-Bee structured input: convert_to_ids, prepare_generation_input, collate_for_forward, chat "
                 "and paint requests",
                 init_text, fuzz_structured_input, request_seeds, nullptr, 64u << 10, request_dictionary});
}

}  // namespace viscpm::fuzz

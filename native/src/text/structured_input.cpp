#include "text/structured_input.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>

#include "common/error.h"
#include "text/text_error.h"
#include "text/utf8.h"

namespace viscpm::text {
namespace {

constexpr int kMaxNesting = 512;          // guards the recursion on user-built trees
// The segment relation table holds num_segments^2 int32 values and goes to the model in
// full: 4096 segments are 64 MiB. (The fuzzer found 46340, the former bound that only kept
// n^2 inside int32, letting a 157 KB request allocate 2.3 GB and a 500 KB one 8.6 GB.)
// Every segment has at least its <s> token, so a request with more segments than this has
// more tokens than the model takes (chat inputs are cut at 3000).
constexpr int64_t kMaxSegments = 4096;

template <class T>
at::Tensor to_tensor(const std::vector<T>& values, at::ScalarType dtype, at::IntArrayRef shape) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  TORCH_CHECK(t.numel() == static_cast<int64_t>(values.size()), "internal: shape does not match the values");
  if (!values.empty()) std::memcpy(t.data_ptr(), values.data(), values.size() * sizeof(T));
  return t;
}

at::Tensor bounds_tensor(const std::vector<std::pair<int32_t, int32_t>>& bounds, bool batch) {
  std::vector<int32_t> flat;
  for (const auto& [b, e] : bounds) {
    flat.push_back(b);
    flat.push_back(e);
  }
  const auto k = static_cast<int64_t>(bounds.size());
  return batch ? to_tensor(flat, at::kInt, {1, k, 2}) : to_tensor(flat, at::kInt, {k, 2});
}

bool looks_special(std::string_view s) { return !s.empty() && s.front() == '<' && s.back() == '>'; }

// Class of an unlisted token: <name_x> -> <name>, <name> -> <name>, unknown text -> <unk>.
std::string class_name_of(const std::string& token) {
  if (!looks_special(token)) return "<unk>";
  std::string inner = token.substr(1, token.size() - 2);
  const auto underscore = inner.find('_');
  if (underscore != std::string::npos) inner.resize(underscore);
  return "<" + inner + ">";
}

std::string json_type_name(const ordered_json& v) { return v.type_name(); }

std::string path_string(const std::vector<std::string>& path) {
  if (path.empty()) return "the top level";
  std::string s;
  for (const auto& k : path) s += "[\"" + k + "\"]";
  return s;
}

void build_segments(const ordered_json& node, int32_t depth, bool need_predict, bool is_image, int32_t parent,
                    std::vector<std::string>& path, std::vector<Segment>& segments) {
  if (depth > kMaxNesting) {
    throw TextError(TextError::Reason::kInvalidData, -1, "maximum recursion depth exceeded",
                    "structured input is nested deeper than " + std::to_string(kMaxNesting) + " levels");
  }
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string& key = it.key();
      const auto key_id = static_cast<int32_t>(segments.size());
      segments.push_back(Segment{key, depth, parent, true, false, false, 0, 0});
      path.push_back(key);
      build_segments(it.value(), depth + 1, need_predict || (depth == 1 && key == "<ans>"),
                     is_image || (depth == 1 && key == "image"), key_id, path, segments);
      path.pop_back();
    }
    return;
  }
  if (!node.is_string()) {
    throw TextError(TextError::Reason::kInvalidData, -1, "Invalid data " + node.dump(),
                    "structured input: the value at " + path_string(path) + " is a " + json_type_name(node) +
                        "; values must be strings or objects of strings");
  }
  segments.push_back(Segment{node.get<std::string>(), depth, parent, false, need_predict, is_image, 0, 0});
}

// "the value of \"question\" (segment 6)", "the key \"a\"/\"b\" (segment 3)" for messages.
std::string describe_segment(const std::vector<Segment>& segments, int32_t id) {
  if (id == 0) return "the root segment";
  std::vector<std::string> keys;
  for (int32_t k = segments[id].is_key ? id : segments[id].parent; k > 0; k = segments[k].parent)
    keys.push_back("\"" + segments[k].value + "\"");
  std::string path;
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) path += (path.empty() ? "" : "/") + *it;
  const std::string what = segments[id].is_key ? "the key " + path
                           : keys.empty()      ? std::string("the text")
                                               : "the value of " + path;
  return what + " (segment " + std::to_string(id) + ")";
}

int32_t relation_bucket(int32_t up, int32_t down, int max_depth) {
  const int32_t code = up * max_depth + down;
  return code == 0 ? 0 : code + 1;  // bucket 1 is reserved for "different sample"
}

std::vector<int32_t> build_segment_rel(const std::vector<Segment>& segments, int max_depth) {
  const auto n = static_cast<int64_t>(segments.size());
  std::vector<int32_t> rel(static_cast<std::size_t>(n * n), 0);
  const int32_t clamp = max_depth - 1;
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t b = 0; b < n; ++b) {
      if (a == b) continue;
      // Lowest common ancestor: lift the deeper one, then both together.
      int32_t x = static_cast<int32_t>(a), y = static_cast<int32_t>(b);
      while (segments[x].depth > segments[y].depth) x = segments[x].parent;
      while (segments[y].depth > segments[x].depth) y = segments[y].parent;
      while (x != y) {
        x = segments[x].parent;
        y = segments[y].parent;
      }
      const int32_t c_depth = segments[x].depth;
      const int32_t up = std::min(segments[a].depth - c_depth, clamp);
      const int32_t down = std::min(segments[b].depth - c_depth, clamp);
      rel[static_cast<std::size_t>(a * n + b)] = relation_bucket(up, down, max_depth);
    }
  }
  return rel;
}

// Python int() on the N of <ans_N>: surrounding whitespace, a sign, ASCII digits with
// single underscores between them. Saturates instead of growing without bound.
std::optional<int64_t> parse_python_int(std::string_view s) {
  auto is_space = [](char32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
  };
  std::u32string u = decode_utf8(s);
  std::size_t b = 0, e = u.size();
  while (b < e && is_space(u[b])) ++b;
  while (e > b && is_space(u[e - 1])) --e;
  bool negative = false;
  if (b < e && (u[b] == '+' || u[b] == '-')) negative = u[b++] == '-';
  if (b == e) return std::nullopt;
  int64_t value = 0;
  bool previous_digit = false;
  for (std::size_t i = b; i < e; ++i) {
    const char32_t c = u[i];
    if (c == '_') {
      if (!previous_digit || i + 1 == e) return std::nullopt;
      previous_digit = false;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    previous_digit = true;
    value = value > (INT64_MAX - 9) / 10 ? INT64_MAX : value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

}  // namespace

at::Tensor ConvertedInput::input_ids_tensor() const { return to_tensor(input_ids, at::kInt, {(int64_t)input_ids.size()}); }
at::Tensor ConvertedInput::input_id_subs_tensor() const {
  return to_tensor(input_id_subs, at::kInt, {(int64_t)input_id_subs.size()});
}
at::Tensor ConvertedInput::context_tensor() const { return to_tensor(context, at::kChar, {(int64_t)context.size()}); }
at::Tensor ConvertedInput::segment_ids_tensor() const {
  return to_tensor(segment_ids, at::kInt, {(int64_t)segment_ids.size()});
}
at::Tensor ConvertedInput::segment_rel_tensor() const {
  return to_tensor(segment_rel, at::kInt, {(int64_t)segment_rel.size()});
}
at::Tensor ConvertedInput::image_bound_tensor() const { return bounds_tensor(image_bounds, false); }

ConvertedInput convert_to_ids(const Tokenizer& tokenizer, const ordered_json& data, int max_depth) {
  if (max_depth < 1) throw InvalidArgument("max_depth must be at least 1, got " + std::to_string(max_depth));
  ConvertedInput out;
  out.ext_table = tokenizer.new_ext_table();
  out.segments.push_back(Segment{"<root>", 0, -1, true, false, false, 0, 0});
  std::vector<std::string> path;
  build_segments(data, 1, false, false, 0, path, out.segments);
  if (static_cast<int64_t>(out.segments.size()) > kMaxSegments) {
    throw InvalidArgument("structured input has " + std::to_string(out.segments.size()) +
                          " segments; at most " + std::to_string(kMaxSegments) + " are supported");
  }
  out.num_segments = static_cast<int32_t>(out.segments.size());
  out.segment_rel = build_segment_rel(out.segments, max_depth);

  // class name -> index in token_classes; per class: fake id -> sub id
  std::unordered_map<std::string, std::size_t> class_index;
  std::vector<std::unordered_map<int32_t, int32_t>> class_subs;

  for (int32_t seg_id = 0; seg_id < out.num_segments; ++seg_id) {
    Segment& seg = out.segments[seg_id];
    std::vector<int32_t> ids;
    try {
      ids = tokenizer.encode(seg.value, out.ext_table);
    } catch (const TextError& e) {
      // Same reason, position (within this segment's text) and reference message; the
      // message says which part of the request it is.
      throw TextError(e.reason(), e.position(), e.reference_message(),
                      "in " + describe_segment(out.segments, seg_id) + ": " + e.what());
    }
    seg.begin = static_cast<int32_t>(out.input_ids.size());
    out.input_ids.push_back(tokenizer.bos_id());
    out.input_id_subs.push_back(0);
    for (int32_t id : ids) {
      const std::string* token = out.ext_table.text(id);
      if (token == nullptr) {
        out.input_ids.push_back(id);
        out.input_id_subs.push_back(0);
        continue;
      }
      const std::string name = class_name_of(*token);
      auto [it, added] = class_index.emplace(name, out.token_classes.size());
      if (added) {
        out.token_classes.push_back(TokenClass{name, -1, {}});
        class_subs.emplace_back();
      }
      TokenClass& cls = out.token_classes[it->second];
      auto& subs = class_subs[it->second];
      auto [sub_it, new_sub] = subs.emplace(id, static_cast<int32_t>(subs.size()));
      if (new_sub) cls.subs.emplace_back(id, sub_it->second);
      const auto class_id = tokenizer.word_id(name);
      if (!class_id) {
        throw TextError(TextError::Reason::kInvalidToken, -1, "Invalid token " + *token,
                        "Invalid token " + *token + " in " + describe_segment(out.segments, seg_id) + ": " + name +
                            " is not a special token of the vocabulary (only <name_suffix> tokens whose <name> is "
                            "in the vocabulary, e.g. <ans_1>, are allowed; write '<<' for a literal '<')");
      }
      cls.class_id = *class_id;
      out.input_ids.push_back(*class_id);
      out.input_id_subs.push_back(sub_it->second);
    }
    if (!seg.need_predict) {
      out.input_ids.push_back(tokenizer.eos_id());
      out.input_id_subs.push_back(0);
    }
    seg.end = static_cast<int32_t>(out.input_ids.size());
    out.context.insert(out.context.end(), seg.end - seg.begin, seg.need_predict ? 0 : 1);
    out.segment_ids.insert(out.segment_ids.end(), seg.end - seg.begin, seg_id);
    if (seg.is_image) out.image_bounds.emplace_back(seg.begin + 1, seg.end - 1);
  }
  return out;
}

ordered_json put_answer_placeholders(const ordered_json& data, std::vector<std::vector<std::string>>& paths) {
  if (!data.is_object() || !data.contains("<ans>")) {
    throw TextError(TextError::Reason::kInvalidData, -1, "'<ans>'",
                    "a generation request must be an object with an \"<ans>\" key (what to generate)");
  }
  std::vector<std::string> path;
  std::function<ordered_json(const ordered_json&, int)> place = [&](const ordered_json& v, int depth) -> ordered_json {
    if (depth > kMaxNesting) {
      throw TextError(TextError::Reason::kInvalidData, -1, "maximum recursion depth exceeded",
                      "structured input is nested deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    if (v.is_object()) {
      ordered_json out = ordered_json::object();
      for (auto it = v.begin(); it != v.end(); ++it) {
        path.push_back(it.key());
        out[it.key()] = place(it.value(), depth + 1);
        path.pop_back();
      }
      return out;
    }
    paths.push_back(path);
    return "<ans_" + std::to_string(paths.size()) + ">";
  };
  ordered_json out = data;
  out["<ans>"] = place(data.at("<ans>"), 1);
  return out;
}

GenerationInput prepare_generation_input(const Tokenizer& tokenizer, const ordered_json& data,
                                         std::optional<int64_t> max_inp_length) {
  if (max_inp_length && *max_inp_length < 0) {
    throw InvalidArgument("max_inp_length must be >= 0, got " + std::to_string(*max_inp_length));
  }
  GenerationInput g;
  g.data = put_answer_placeholders(data, g.answer_placeholders);
  g.raw = convert_to_ids(tokenizer, g.data);
  const ConvertedInput& raw = g.raw;
  const auto total = static_cast<int64_t>(raw.input_ids.size());
  const int64_t limit = max_inp_length ? std::min(total, *max_inp_length) : total;

  // sub id of an <ans_N> token -> N
  std::map<int32_t, int32_t> sub_to_answer;
  for (const TokenClass& cls : raw.token_classes) {
    if (cls.name != "<ans>") continue;
    for (const auto& [fake_id, sub] : cls.subs) {
      const std::string& token = *raw.ext_table.text(fake_id);
      if (token.size() < 6 || token.compare(0, 5, "<ans_") != 0 || token.back() != '>') continue;
      const std::string number = token.substr(5, token.size() - 6);
      const auto n = parse_python_int(number);
      if (!n) {
        throw TextError(TextError::Reason::kInvalidAnswerNumber, -1,
                        "invalid literal for int() with base 10: '" + number + "'",
                        "answer placeholder " + token + " does not end in a number");
      }
      sub_to_answer[sub] = static_cast<int32_t>(std::clamp<int64_t>(*n, INT32_MIN, INT32_MAX));
    }
  }

  std::vector<int32_t> ids, subs, segs;
  for (int64_t i = 0; i < limit; ++i) {
    if (raw.context[i] == 0) {
      if (raw.input_ids[i] == tokenizer.ans_id()) {
        auto it = sub_to_answer.find(raw.input_id_subs[i]);
        if (it == sub_to_answer.end()) {
          throw InvalidArgument("an <ans> token to predict has no <ans_N> placeholder (sub id " +
                                std::to_string(raw.input_id_subs[i]) + ")");
        }
        g.predict_segments.push_back(AnswerSlot{raw.segment_ids[i], it->second});
      }
      continue;
    }
    ids.push_back(raw.input_ids[i]);
    subs.push_back(raw.input_id_subs[i]);
    segs.push_back(raw.segment_ids[i]);
  }
  if (g.predict_segments.empty()) {
    std::string why;
    if (g.answer_placeholders.empty()) {
      why = "the \"<ans>\" value has no leaf to generate";
    } else {
      why = "the input has " + std::to_string(total) + " tokens and max_inp_length = " +
            std::to_string(limit) + " cuts off the answer placeholder (shorten the question or the history)";
    }
    throw TextError(TextError::Reason::kNoAnswer, -1, "No answer to predict", "No answer to predict: " + why);
  }

  const auto n = static_cast<int64_t>(ids.size());
  g.length = n;
  std::vector<int32_t> pos(n), zeros(n, 0), nseg(n, raw.num_segments);
  for (int64_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(i);
  g.input_ids = to_tensor(ids, at::kInt, {1, n});
  g.input_id_subs = to_tensor(subs, at::kInt, {1, n});
  g.input_pos = to_tensor(pos, at::kInt, {1, n});
  g.context = at::ones({1, n}, at::kChar);
  g.sample_ids = to_tensor(zeros, at::kInt, {1, n});
  g.num_segments = to_tensor(nseg, at::kInt, {1, n});
  g.segment_ids = to_tensor(segs, at::kInt, {1, n});
  g.segment_rel_offset = to_tensor(zeros, at::kInt, {1, n});
  g.segment_rel = to_tensor(raw.segment_rel, at::kInt, {1, (int64_t)raw.segment_rel.size()});
  g.image_bound = bounds_tensor(raw.image_bounds, true);

  // Extra logit columns and the decoding table (input-format.md §6).
  std::map<std::pair<int32_t, int32_t>, int32_t> column_of;
  std::vector<int32_t> ext_ids, ext_subs;
  for (const TokenClass& cls : raw.token_classes) {
    if (cls.name == "<ans>") continue;
    for (const auto& [fake_id, sub] : cls.subs) {
      const std::string& text = *raw.ext_table.text(fake_id);
      if (sub > 0) {
        auto [it, added] = column_of.emplace(std::make_pair(cls.class_id, sub),
                                             tokenizer.vocab_size() + static_cast<int32_t>(ext_ids.size()));
        if (added) {
          ext_ids.push_back(cls.class_id);
          ext_subs.push_back(sub);
        }
        g.decode_table.set(it->second, text);
      } else {
        g.decode_table.set(cls.class_id, text);
      }
    }
  }
  g.ext_table_ids = to_tensor(ext_ids, at::kInt, {(int64_t)ext_ids.size()});
  g.ext_table_sub = to_tensor(ext_subs, at::kInt, {(int64_t)ext_subs.size()});
  return g;
}

ForwardInput collate_for_forward(const ConvertedInput& input, int64_t max_len) {
  const auto t = static_cast<int64_t>(input.input_ids.size());
  if (max_len < t) {
    throw InvalidArgument("cannot pad an input of " + std::to_string(t) + " tokens to " + std::to_string(max_len));
  }
  const int64_t l = max_len;
  auto padded = [&](const auto& values, auto fill_real) {
    std::vector<int32_t> out(static_cast<std::size_t>(l), 0);
    for (int64_t i = 0; i < t; ++i) out[i] = fill_real(values, i);
    return to_tensor(out, at::kInt, {1, l});
  };
  auto copy = [](const auto& v, int64_t i) { return static_cast<int32_t>(v[i]); };
  auto zero = [](const auto&, int64_t) { return 0; };
  ForwardInput f;
  f.input_ids = padded(input.input_ids, copy);
  f.input_id_subs = padded(input.input_id_subs, copy);
  f.context = padded(input.context, copy).gt(0);
  f.segment_ids = padded(input.segment_ids, copy);
  f.segment_rel_offset = padded(input.segment_ids, zero);
  f.sample_ids = padded(input.segment_ids, zero);
  f.num_segments = padded(input.segment_ids, [&](const auto&, int64_t) { return input.num_segments; });
  f.span = at::zeros({1, l}, at::kInt);
  std::vector<int32_t> rel = input.segment_rel;
  if (static_cast<int64_t>(rel.size()) < l) rel.resize(static_cast<std::size_t>(l), 0);
  f.segment_rel = to_tensor(rel, at::kInt, {1, (int64_t)rel.size()});
  f.length = to_tensor(std::vector<int32_t>{static_cast<int32_t>(t)}, at::kInt, {1});
  // Extra columns in token order; a placeholder column when there is none.
  std::map<std::pair<int32_t, int32_t>, int32_t> seen;
  std::vector<int32_t> ext_ids, ext_subs;
  for (int64_t i = 0; i < t; ++i) {
    if (input.input_id_subs[i] <= 0) continue;
    if (seen.emplace(std::make_pair(input.input_ids[i], input.input_id_subs[i]), 0).second) {
      ext_ids.push_back(input.input_ids[i]);
      ext_subs.push_back(input.input_id_subs[i]);
    }
  }
  if (ext_ids.empty()) {
    ext_ids.push_back(0);
    ext_subs.push_back(1);
  }
  f.ext_table_ids = to_tensor(ext_ids, at::kInt, {(int64_t)ext_ids.size()});
  f.ext_table_sub = to_tensor(ext_subs, at::kInt, {(int64_t)ext_subs.size()});
  f.image_bound = bounds_tensor(input.image_bounds, true);
  return f;
}

ordered_json chat_turn_data(int query_num, std::string_view context, std::string_view question) {
  if (query_num < 0) throw InvalidArgument("query_num must be >= 0, got " + std::to_string(query_num));
  std::string image;
  image.reserve(static_cast<std::size_t>(query_num) * 5);
  for (int i = 0; i < query_num; ++i) image += "<unk>";
  ordered_json data = ordered_json::object();
  data["image"] = image;
  data["context"] = std::string(context);
  data["question"] = std::string(question);
  data["<ans>"] = "";
  return data;
}

ordered_json paint_caption_data(std::string_view caption) {
  ordered_json data = ordered_json::object();
  data["caption"] = std::string(caption);
  data["objects"] = "";
  return data;
}

PaintInputs build_paint_inputs(const Tokenizer& tokenizer, std::string_view prompt, std::string_view negative_prompt) {
  const ConvertedInput cond = convert_to_ids(tokenizer, paint_caption_data(prompt));
  const ConvertedInput uncond = convert_to_ids(tokenizer, paint_caption_data(negative_prompt));
  PaintInputs p;
  p.padded_length = static_cast<int64_t>(std::max(cond.input_ids.size(), uncond.input_ids.size()));
  p.cond = collate_for_forward(cond, p.padded_length);
  p.uncond = collate_for_forward(uncond, p.padded_length);
  return p;
}

}  // namespace viscpm::text

// CPM-Bee structured input (spec: input-format.md; paint.md §2 for the paint collation).
//
// A request is an ordered nested map whose leaves are strings (nlohmann::ordered_json:
// key order matters). Every key and every string value becomes a segment; the segments
// are tokenized with one shared ext table, unlisted tokens become (class id, sub id)
// pairs, and a segment-relation table encodes the tree. Three views are built from it:
//   convert_to_ids            the raw conversion (reference convert_data_to_id),
//   prepare_generation_input  chat: answer placeholders, truncation, answer dropped, batch 1,
//   collate_for_forward       paint: one sample right-padded to a given length.
// All functions are pure (thread-safe given a shared const Tokenizer) and return CPU tensors.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/ext_table.h"
#include "text/tokenizer.h"

namespace viscpm::text {

using ordered_json = nlohmann::ordered_json;

constexpr int kMaxSegmentDepth = 8;        // relation buckets clamp depths to 7
constexpr int64_t kChatMaxInputLength = 3000;

// Per-request sub-id bookkeeping (the reference's token_id_table): for each class of
// unlisted tokens (<unk> for unknown runs, <name> for <name_x>), in order of first
// appearance, the fake ids seen and their sub ids (0, 1, ... in order of appearance).
struct TokenClass {
  std::string name;      // "<unk>", "<ans>", ...
  int32_t class_id = -1; // vocabulary id of `name`
  std::vector<std::pair<int32_t, int32_t>> subs;  // (fake id, sub id)
};

struct Segment {
  std::string value;   // the key or the string value
  int32_t depth = 0;   // root 0, top-level keys 1, their values 2, ...
  int32_t parent = -1; // segment id of the parent (-1 for the root)
  bool is_key = false;  // a key (or the root), not a string value
  bool need_predict = false;
  bool is_image = false;
  int32_t begin = 0, end = 0;  // token range in the raw ids
};

// Raw conversion (plain vectors: the other views are computed from it).
struct ConvertedInput {
  std::vector<int32_t> input_ids;      // class ids for unlisted tokens
  std::vector<int32_t> input_id_subs;
  std::vector<int8_t> context;         // 1 = context token, 0 = to be predicted
  std::vector<int32_t> segment_ids;
  std::vector<int32_t> segment_rel;    // num_segments^2, row = query segment
  int32_t num_segments = 0;
  std::vector<std::pair<int32_t, int32_t>> image_bounds;  // [begin, end) of image segments
  std::vector<Segment> segments;
  ExtTable ext_table;                  // fake id -> string, shared by all segments
  std::vector<TokenClass> token_classes;

  // raw tensors as the reference returns them: ids/subs/segments int32 [T], context int8
  // [T], segment_rel int32 [n*n], image_bound int32 [K, 2]
  at::Tensor input_ids_tensor() const;
  at::Tensor input_id_subs_tensor() const;
  at::Tensor context_tensor() const;
  at::Tensor segment_ids_tensor() const;
  at::Tensor segment_rel_tensor() const;
  at::Tensor image_bound_tensor() const;
};

// The reference convert_data_to_id with shuffle_answer = False. `data` is a string or an
// object of (nested objects of) strings. Throws TextError (kInvalidData for other JSON
// types, tokenizer errors of any segment, kInvalidToken for <name_x> whose <name> is not
// a vocabulary special token).
ConvertedInput convert_to_ids(const Tokenizer& tokenizer, const ordered_json& data,
                              int max_depth = kMaxSegmentDepth);

struct AnswerSlot {
  int32_t segment_id = 0;
  int32_t answer_number = 0;  // N of <ans_N>
};

// Model inputs of one generation request, batch 1 (tensors: int32 [1, N], context int8).
struct GenerationInput {
  at::Tensor input_ids, input_id_subs, input_pos, context, sample_ids, num_segments, segment_ids,
      segment_rel_offset;
  at::Tensor segment_rel;                   // int32 [1, n*n]
  at::Tensor ext_table_ids, ext_table_sub;  // int32 [E]: extra logit columns (class id, sub id)
  at::Tensor image_bound;                   // int32 [1, K, 2]
  int64_t length = 0;                       // N
  std::vector<AnswerSlot> predict_segments;
  std::vector<std::vector<std::string>> answer_placeholders;  // key path of each <ans_N> leaf
  // Generated id -> text for ids whose text is not the vocabulary word: class ids of
  // sub-0 entries (e.g. 1 -> first unknown run) and ext logit ids vocab_size + k.
  IdTextTable decode_table;
  ordered_json data;     // the request with <ans_N> placeholders
  ConvertedInput raw;    // full conversion before truncation / dropping
};

// Replaces every leaf under data["<ans>"] by "<ans_N>" (N = 1, 2, ... depth first) and
// records the key paths. InvalidArgument if data is not an object with an "<ans>" key.
ordered_json put_answer_placeholders(const ordered_json& data, std::vector<std::vector<std::string>>& paths);

// Chat preprocessing (input-format.md §5-§6). `max_inp_length` cuts the raw tokens
// (nullopt: no cut; must be >= 0). TextError kNoAnswer when no placeholder survives.
GenerationInput prepare_generation_input(const Tokenizer& tokenizer, const ordered_json& data,
                                         std::optional<int64_t> max_inp_length = kChatMaxInputLength);

// Inputs of the full-sequence forward: one sample right-padded with zeros to `max_len`
// (reference CPMBeeCollater, batch 1). Tensors int32 [1, L] (context bool), segment_rel
// [1, max(L, n*n)], length [1], ext table [E] (placeholder ids [0], sub [1] when no token
// has a sub id), image_bound [1, K, 2].
struct ForwardInput {
  at::Tensor input_ids, input_id_subs, context, segment_ids, segment_rel_offset, sample_ids, num_segments, span;
  at::Tensor segment_rel;
  at::Tensor length;
  at::Tensor ext_table_ids, ext_table_sub;
  at::Tensor image_bound;
};
ForwardInput collate_for_forward(const ConvertedInput& input, int64_t max_len);

// {"image": "<unk>" * query_num, "context": context, "question": question, "<ans>": ""}
ordered_json chat_turn_data(int query_num, std::string_view context, std::string_view question);
// {"caption": caption, "objects": ""}
ordered_json paint_caption_data(std::string_view caption);

// Paint conditioning inputs: cond for the prompt, uncond for the negative prompt ("" when
// none), both padded to the longer one. Text is not escaped (as in the reference).
struct PaintInputs {
  ForwardInput cond, uncond;
  int64_t padded_length = 0;
};
PaintInputs build_paint_inputs(const Tokenizer& tokenizer, std::string_view prompt,
                               std::string_view negative_prompt = "");

}  // namespace viscpm::text

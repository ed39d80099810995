// Structured input: golden chat/paint cases, the worked examples of input-format.md §8
// and paint.md §2, truncation, nested answers, ext-table ordering, bad input.
#include "test_support.h"
#include "text/structured_input.h"

namespace {

using namespace viscpm::text;
using V = std::vector<int32_t>;

const Tokenizer& bee() {
  static const Tokenizer t = Tokenizer::from_file(viscpm::testing::fixtures_dir() / "vocab" / "bee.txt");
  return t;
}

V row(const at::Tensor& t) {
  at::Tensor c = t.to(at::kInt).contiguous().flatten();
  return V(c.data_ptr<int32_t>(), c.data_ptr<int32_t>() + c.numel());
}

TextError::Reason generation_error(const ordered_json& data, std::optional<int64_t> max_len = kChatMaxInputLength) {
  try {
    prepare_generation_input(bee(), data, max_len);
  } catch (const TextError& e) {
    return e.reason();
  }
  ADD_FAILURE() << "no error for " << data.dump();
  return TextError::Reason::kInvalidUtf8;
}

TEST(TextStructuredInput, GoldenChatCasesPass) { viscpm::testing::expect_kind_passes("chat_input"); }
TEST(TextStructuredInput, GoldenPaintCasePasses) { viscpm::testing::expect_kind_passes("paint_input"); }

// input-format.md §8: second turn, N = 108.
TEST(TextStructuredInput, ChatWorkedExample) {
  auto g = prepare_generation_input(
      bee(), chat_turn_data(64, "User: 描述这张图片。\nAI: 一只猫坐在沙发上。\n", "What color is it?"));
  V expected = {6, 8, 7, 6, 78375, 7, 6};
  expected.insert(expected.end(), 64, 1);
  for (int32_t id : {7, 6, 83032, 7, 6, 36986, 38, 5, 18976, 28395, 14102, 237, 4, 56389, 38, 5, 7689, 2618, 14253,
                     21630, 287, 237, 4, 7, 6, 56976, 7, 6, 53161, 79696, 68606, 43970, 43, 7, 6, 9, 7})
    expected.push_back(id);
  ASSERT_EQ(g.length, 108);
  EXPECT_EQ(row(g.input_ids), expected);
  EXPECT_EQ(row(g.input_id_subs), V(108, 0));
  EXPECT_EQ(row(g.context), V(108, 1));
  EXPECT_EQ(row(g.num_segments), V(108, 9));
  EXPECT_EQ(row(g.input_pos)[107], 107);
  EXPECT_EQ(g.image_bound.sizes(), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(row(g.image_bound), (V{7, 71}));
  EXPECT_EQ(g.ext_table_ids.numel(), 0);
  EXPECT_TRUE(g.decode_table.empty());
  ASSERT_EQ(g.predict_segments.size(), 1u);
  EXPECT_EQ(g.predict_segments[0].segment_id, 8);
  EXPECT_EQ(g.predict_segments[0].answer_number, 1);
  const V rel = {0,  2,  3,  2,  3,  2,  3,  2,  3,  9,  0,  2,  10, 11, 10, 11, 10, 11, 17, 9,  0,
                 18, 19, 18, 19, 18, 19, 9,  10, 11, 0,  2,  10, 11, 10, 11, 17, 18, 19, 9,  0,  18,
                 19, 18, 19, 9,  10, 11, 10, 11, 0,  2,  10, 11, 17, 18, 19, 18, 19, 9,  0,  18, 19,
                 9,  10, 11, 10, 11, 10, 11, 0,  2,  17, 18, 19, 18, 19, 18, 19, 9,  0};
  EXPECT_EQ(row(g.segment_rel), rel);
  // Raw view keeps the answer segment: <s> and <ans_1> -> (9, sub 0), context 0.
  ASSERT_EQ(g.raw.input_ids.size(), 110u);
  EXPECT_EQ(g.raw.input_ids[109], 9);
  EXPECT_EQ(g.raw.context[108], 0);
  EXPECT_EQ(g.data["<ans>"], "<ans_1>");
}

TEST(TextStructuredInput, UnknownCharactersGetSubIdsAndExtColumns) {
  auto g = prepare_generation_input(bee(), chat_turn_data(2, "😀", "\t😀 é ❤"));
  const V ids = row(g.input_ids), subs = row(g.input_id_subs);
  // root(3) key(3) image(4) key(3) history: 6 1 7 at 13..15
  EXPECT_EQ(V(ids.begin() + 13, ids.begin() + 16), (V{6, 1, 7}));
  EXPECT_EQ(V(subs.begin() + 13, subs.begin() + 16), (V{0, 0, 0}));
  EXPECT_EQ(V(ids.begin() + 19, ids.begin() + 26), (V{6, 1, 5, 1, 5, 1, 7}));
  EXPECT_EQ(V(subs.begin() + 19, subs.begin() + 26), (V{0, 1, 0, 2, 0, 3, 0}));
  EXPECT_EQ(row(g.ext_table_ids), (V{1, 1, 1}));
  EXPECT_EQ(row(g.ext_table_sub), (V{1, 2, 3}));
  const std::vector<std::pair<int32_t, std::string>> decode = {
      {1, "😀"}, {86583, "\t😀"}, {86584, "é"}, {86585, "❤"}};
  EXPECT_EQ(g.decode_table.items(), decode);
  EXPECT_EQ(bee().decode({1, 86584, 5, 78}, g.decode_table), "😀é a");
}

TEST(TextStructuredInput, TruncationDropsTheAnswerPlaceholder) {
  // Each "\n" of the history is one token; the first-turn prompt without history has 88.
  auto with_history = [](int newlines) { return chat_turn_data(64, std::string(newlines, '\n'), "这是什么？"); };
  EXPECT_EQ(prepare_generation_input(bee(), with_history(0)).length, 88);
  EXPECT_EQ(prepare_generation_input(bee(), with_history(2910)).length, 2998);  // the longest that works
  EXPECT_EQ(generation_error(with_history(2911)), TextError::Reason::kNoAnswer);
  EXPECT_EQ(prepare_generation_input(bee(), with_history(2911), std::nullopt).length, 2999);
  EXPECT_EQ(prepare_generation_input(bee(), with_history(0), 90).length, 88);
  EXPECT_EQ(generation_error(with_history(0), 89), TextError::Reason::kNoAnswer);
  EXPECT_THROW(prepare_generation_input(bee(), with_history(0), -1), viscpm::InvalidArgument);
}

TEST(TextStructuredInput, NestedAnswersGetNumberedPlaceholders) {
  ordered_json data = ordered_json::parse(R"({"question": "q", "<ans>": {"a": "", "b": {"c": "x"}}})");
  auto g = prepare_generation_input(bee(), data);
  EXPECT_EQ(g.answer_placeholders, (std::vector<std::vector<std::string>>{{"a"}, {"b", "c"}}));
  EXPECT_EQ(g.data["<ans>"].dump(), R"({"a":"<ans_1>","b":{"c":"<ans_2>"}})");
  ASSERT_EQ(g.predict_segments.size(), 2u);
  EXPECT_EQ(g.predict_segments[0].segment_id, 5);
  EXPECT_EQ(g.predict_segments[0].answer_number, 1);
  EXPECT_EQ(g.predict_segments[1].segment_id, 8);
  EXPECT_EQ(g.predict_segments[1].answer_number, 2);
  // <ans_2> is the second distinct <ans> token: (9, sub 1).
  EXPECT_EQ(g.raw.input_ids.back(), 9);
  EXPECT_EQ(g.raw.input_id_subs.back(), 1);
  EXPECT_EQ(g.raw.segments[8].depth, 4);
  EXPECT_EQ(g.ext_table_ids.numel(), 0);  // the <ans> class never makes logit columns
  EXPECT_EQ(g.num_segments.size(1), g.length);
}

TEST(TextStructuredInput, DeepTreesClampRelationDepth) {
  ordered_json data = "leaf";
  for (int i = 11; i >= 1; --i) data = ordered_json{{"k" + std::to_string(i), data}};
  auto raw = convert_to_ids(bee(), data);
  ASSERT_EQ(raw.num_segments, 13);  // root, 11 keys, the leaf at depth 12
  const int n = raw.num_segments;
  EXPECT_EQ(raw.segment_rel[12 * n + 0], 7 * 8 + 0 + 1);  // leaf -> root: up clamped to 7
  EXPECT_EQ(raw.segment_rel[0 * n + 12], 0 * 8 + 7 + 1);
  EXPECT_EQ(raw.segment_rel[2 * n + 1], 1 * 8 + 0 + 1);
  EXPECT_EQ(raw.segment_rel[1 * n + 1], 0);
  // A bare string is one value segment at depth 1.
  auto single = convert_to_ids(bee(), "abc");
  EXPECT_EQ(single.num_segments, 2);
  EXPECT_EQ(single.segment_rel, (V{0, 2, 9, 0}));
}

TEST(TextStructuredInput, RejectsBadStructuresAndTokens) {
  EXPECT_EQ(generation_error(chat_turn_data(4, "", "<foo>")), TextError::Reason::kInvalidToken);
  EXPECT_EQ(generation_error(chat_turn_data(4, "", "a<b")), TextError::Reason::kUnexpectedEnd);
  EXPECT_EQ(generation_error(chat_turn_data(4, "", "<ans_x>")), TextError::Reason::kInvalidAnswerNumber);
  EXPECT_EQ(generation_error(chat_turn_data(4, std::string("\xED\xA0\x80", 3), "q")), TextError::Reason::kInvalidUtf8);
  EXPECT_EQ(generation_error(ordered_json::parse(R"({"<ans>": {}})")), TextError::Reason::kNoAnswer);
  EXPECT_EQ(generation_error(ordered_json::parse(R"({"question": "q"})")), TextError::Reason::kInvalidData);
  EXPECT_EQ(generation_error(ordered_json::parse(R"({"question": 5, "<ans>": ""})")), TextError::Reason::kInvalidData);
  EXPECT_THROW(convert_to_ids(bee(), ordered_json::parse(R"({"a": [1]})")), viscpm::InvalidArgument);
  EXPECT_THROW(convert_to_ids(bee(), ordered_json::parse(R"({"a": null})")), viscpm::InvalidArgument);
  EXPECT_THROW(chat_turn_data(-1, "", "q"), viscpm::InvalidArgument);
  try {
    prepare_generation_input(bee(), chat_turn_data(4, "", "x <foo> y"));
    ADD_FAILURE();
  } catch (const TextError& e) {
    EXPECT_EQ(e.reference_message(), "Invalid token <foo>");
    EXPECT_NE(std::string(e.what()).find("segment 6"), std::string::npos) << e.what();
  }
  try {
    prepare_generation_input(bee(), chat_turn_data(4, "", "a<b"));
    ADD_FAILURE();
  } catch (const TextError& e) {
    EXPECT_EQ(e.reason(), TextError::Reason::kUnexpectedEnd);
    EXPECT_EQ(e.position(), 1);  // within the segment's text
    EXPECT_EQ(e.reference_message(), "Unexpected end of text `a<b`");
    EXPECT_NE(std::string(e.what()).find("the value of \"question\" (segment 6)"), std::string::npos) << e.what();
  }
  // Typed placeholders are tokens like any other: <ans_1> in the question is accepted,
  // <ans_ 2> parses as Python int(" 2").
  auto g = prepare_generation_input(bee(), chat_turn_data(4, "<ans_ 2>", "<ans_1>?"));
  ASSERT_EQ(g.predict_segments.size(), 1u);
  EXPECT_EQ(g.predict_segments[0].answer_number, 1);
  // <mask_x> is a valid class (<mask> is a vocabulary special).
  EXPECT_NO_THROW(convert_to_ids(bee(), paint_caption_data("<mask_a>")));
}

// Found by the fuzz harness: the segment relation table is num_segments^2 int32 values, so
// a wide request (a 157 KB object of 12000 empty strings: 24003 segments) asked for 2.3 GB.
// Requests are limited to 4096 segments (64 MiB of relations), refused before the table.
TEST(TextStructuredInput, WideRequestsAreRefusedBeforeTheRelationTable) {
  auto wide = [](int keys) {
    ordered_json data = ordered_json::object();
    for (int i = 0; i < keys; ++i) data["k" + std::to_string(i)] = "";
    data["<ans>"] = "";
    return data;
  };
  try {
    convert_to_ids(bee(), wide(12000));
    ADD_FAILURE() << "a request of 24003 segments was accepted";
  } catch (const viscpm::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("at most 4096"), std::string::npos) << e.what();
  }
  // root + a key and a value per entry + "<ans>" and its value
  EXPECT_THROW(convert_to_ids(bee(), wide(2047)), viscpm::InvalidArgument);  // 4097 segments
  auto largest = convert_to_ids(bee(), wide(2046));                         // 4095 segments
  EXPECT_EQ(largest.num_segments, 4095);
  EXPECT_EQ(largest.segment_rel.size(), size_t(4095) * 4095);
}

// paint.md §2 examples.
TEST(TextStructuredInput, PaintWorkedExamples) {
  auto p = build_paint_inputs(bee(), "a cat");
  EXPECT_EQ(p.padded_length, 16);
  EXPECT_EQ(row(p.cond.input_ids), (V{6, 8, 7, 6, 83680, 7300, 7, 6, 78, 39651, 7, 6, 83350, 7, 6, 7}));
  EXPECT_EQ(row(p.cond.segment_ids), (V{0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4}));
  EXPECT_EQ(row(p.uncond.input_ids), (V{6, 8, 7, 6, 83680, 7300, 7, 6, 7, 6, 83350, 7, 6, 7, 0, 0}));
  EXPECT_EQ(row(p.uncond.length), (V{14}));
  EXPECT_EQ(row(p.uncond.context), (V{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(p.uncond.context.scalar_type(), at::kBool);
  EXPECT_EQ(row(p.uncond.num_segments), (V{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0}));
  EXPECT_EQ(row(p.cond.segment_rel), (V{0, 2, 3, 2, 3, 9, 0, 2, 10, 11, 17, 9, 0, 18, 19, 9, 10, 11, 0, 2, 17, 18, 19, 9, 0}));
  EXPECT_EQ(row(p.cond.ext_table_ids), (V{0}));
  EXPECT_EQ(row(p.cond.ext_table_sub), (V{1}));
  EXPECT_EQ(p.cond.image_bound.sizes(), (std::vector<int64_t>{1, 0, 2}));
  // A longer negative prompt pads the conditional side; relation tables grow past 25.
  auto q = build_paint_inputs(bee(), "a cat", "人闲桂花落，月静春山空");
  EXPECT_EQ(q.padded_length, 24);
  EXPECT_EQ(row(q.uncond.input_ids),
            (V{6, 8, 7, 6, 83680, 7300, 7, 6, 261, 1097, 20914, 2808, 246, 401, 3300, 1606, 290, 1533, 7, 6, 83350, 7, 6, 7}));
  EXPECT_EQ(row(q.cond.length), (V{16}));
  EXPECT_EQ(q.cond.input_ids.size(1), 24);
  auto r = build_paint_inputs(bee(), std::string(30, '\n'));
  EXPECT_EQ(r.cond.segment_rel.size(1), 44);
  EXPECT_THROW(collate_for_forward(convert_to_ids(bee(), paint_caption_data("a cat")), 10), viscpm::InvalidArgument);
  EXPECT_THROW(build_paint_inputs(bee(), "a <foo> b"), viscpm::InvalidArgument);
}

// The forward collation orders extra columns by token position; the generation path by
// class then sub id. They differ when a later class's sub 1 precedes an earlier class's.
TEST(TextStructuredInput, ExtColumnOrderFollowsEachReferencePath) {
  const std::string text = "😀<mask_a><mask_b>🐱";
  auto p = build_paint_inputs(bee(), text);
  EXPECT_EQ(row(p.cond.ext_table_ids), (V{2, 1}));
  EXPECT_EQ(row(p.cond.ext_table_sub), (V{1, 1}));
  auto g = prepare_generation_input(bee(), chat_turn_data(0, "", text));
  EXPECT_EQ(row(g.ext_table_ids), (V{1, 2}));
  EXPECT_EQ(row(g.ext_table_sub), (V{1, 1}));
  EXPECT_EQ(g.image_bound.sizes(), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(row(g.image_bound), (V{7, 7}));  // an empty image segment
}

}  // namespace

// The demo model's generated vocabulary (see demo_chat.h).
#include "testkit/demo/demo_chat.h"

#include <string_view>
#include <unordered_set>

namespace viscpm::testkit {
namespace {

// CPM-Bee's structural tokens, in the order that gives the ids the reference relies on
// (<pad> 0, <unk> 1, </n> 4, </_> 5, <s> 6, </s> 7, <root> 8, <ans> 9).
constexpr const char* kSpecialTokens[] = {"<pad>", "<unk>", "<mask>", "<sep>", "</n>", "</_>",
                                          "<s>",   "</s>",  "<root>", "<ans>"};

constexpr std::string_view kChineseCharacters =
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好"
    "都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此"
    "实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真"
    "听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路"
    "期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统"
    "色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半"
    "候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱图片描述猫狗坐沙发颜蓝绿树草鸟"
    "。，？！：；、";

constexpr const char* kEnglishWords[] = {
    "image", "context", "question", "User", "AI", "the", "a", "an", "is", "are", "was", "of", "in", "on", "at", "to",
    "and", "or", "with", "this", "that", "it", "what", "What", "which", "who", "how", "How", "why", "where", "there",
    "picture", "photo", "color", "colors", "red", "green", "blue", "yellow", "white", "black", "cat", "dog", "sofa",
    "tree", "sky", "sun", "water", "man", "woman", "people", "see", "you", "I", "we", "they", "he", "she", "can",
    "do", "does", "describe", "Describe", "please", "detail", "sitting", "standing", "looks", "like", "small", "large",
    "one", "two", "three", "many", "some", "no", "yes", "Yes", "No", "The", "This", "There", "image.", "background"};

}  // namespace

std::string demo_vocabulary_text() {
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  auto add = [&](const std::string& w) {
    if (!w.empty() && seen.insert(w).second) words.push_back(w);
  };
  for (const char* s : kSpecialTokens) add(s);
  for (char c = '!'; c <= '~'; ++c) add(std::string(1, c));  // printable ASCII (space is </_>)
  // One UTF-8 character at a time (all of these are 3-byte sequences).
  for (size_t i = 0; i + 3 <= kChineseCharacters.size(); i += 3) add(std::string(kChineseCharacters.substr(i, 3)));
  for (const char* w : kEnglishWords) {
    add(w);
    add(std::string(" ") + w);  // CPM-Bee has space-prefixed word forms too
  }
  std::string text;
  for (const auto& w : words) text += w + "\n";
  return text;
}

}  // namespace viscpm::testkit

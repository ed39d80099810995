#include "testkit/kinds/text_support.h"

namespace viscpm::text {

std::shared_ptr<Tokenizer> parity_tokenizer(const parity::Case& c) {
  const auto& params = c.params();
  std::string relative = params.contains("vocab") ? params["vocab"].get<std::string>()
                                                  : c.suite().manifest().at("vocab").get<std::string>();
  const auto path = c.suite().resolve(relative);
  return c.suite().cached<Tokenizer>("text.tokenizer:" + path.string(), [&] {
    return std::make_shared<Tokenizer>(Tokenizer::from_file(path));
  });
}

void compare_all_expected(const parity::Case& c, parity::Result& r, const std::map<std::string, at::Tensor>& actual) {
  for (const auto& name : c.expected_names()) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      r.fail(name, "not produced by the text runner");
      continue;
    }
    r.compare(c, name, it->second);
  }
}

}  // namespace viscpm::text

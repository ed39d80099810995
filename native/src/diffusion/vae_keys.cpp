#include "diffusion/vae_keys.h"

#include <sstream>
#include <vector>

namespace viscpm::diffusion {

namespace {

std::vector<std::string> split(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream in(key);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
  return out;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 6 && s.find_first_not_of("0123456789") == std::string::npos;
}

// Replaces parts[at, at+count) by `with`.
void replace(std::vector<std::string>& parts, size_t at, size_t count, const std::vector<std::string>& with) {
  parts.erase(parts.begin() + at, parts.begin() + at + count);
  parts.insert(parts.begin() + at, with.begin(), with.end());
}

// ldm -> diffusers for the part after "encoder." / "decoder.".
void rename_ldm(const VaeConfig& config, std::vector<std::string>& p) {
  if (p.size() < 2 || (p[0] != "encoder" && p[0] != "decoder")) return;
  const bool decoder = p[0] == "decoder";
  if (p[1] == "norm_out") {
    p[1] = "conv_norm_out";
  } else if (p[1] == "mid" && p.size() > 2) {
    if (p[2] == "block_1" || p[2] == "block_2") {
      replace(p, 1, 2, {"mid_block", "resnets", p[2] == "block_1" ? "0" : "1"});
    } else if (p[2] == "attn_1" && p.size() > 3) {
      static const std::vector<std::pair<std::string, std::string>> members = {
          {"norm", "group_norm"}, {"q", "query"}, {"k", "key"}, {"v", "value"}, {"proj_out", "proj_attn"}};
      for (const auto& [from, to] : members)
        if (p[3] == from) p[3] = to;
      replace(p, 1, 2, {"mid_block", "attentions", "0"});
    }
  } else if ((p[1] == "up" || p[1] == "down") && p.size() > 3 && is_index(p[2])) {
    // The ldm decoder numbers its levels from the lowest resolution's opposite end.
    std::string level = p[2];
    if (decoder) level = std::to_string(config.num_levels() - 1 - std::stol(p[2]));
    const std::string blocks = decoder ? "up_blocks" : "down_blocks";
    if (p[3] == "block" && p.size() > 4) {
      replace(p, 1, 4, {blocks, level, "resnets", p[4]});
    } else if (p[3] == "upsample" || p[3] == "downsample") {
      replace(p, 1, 3, {blocks, level, decoder ? "upsamplers" : "downsamplers", "0"});
    }
  }
  for (auto& part : p)
    if (part == "nin_shortcut") part = "conv_shortcut";
}

}  // namespace

RenamedKey normalize_vae_key(const VaeConfig& config, const std::string& key, bool ldm) {
  std::vector<std::string> p = split(key);
  if (ldm) rename_ldm(config, p);
  RenamedKey out;
  // <side>.mid_block.attentions.0.<member>...: newer member names -> 0.15 names.
  if (p.size() >= 6 && p[1] == "mid_block" && p[2] == "attentions") {
    std::string& member = p[4];
    if (member == "to_q") member = "query";
    else if (member == "to_k") member = "key";
    else if (member == "to_v") member = "value";
    else if (member == "to_out" && p.size() >= 7 && p[5] == "0") replace(p, 4, 2, {"proj_attn"});
    out.squeeze_trailing_unit_dims =
        (p[4] == "query" || p[4] == "key" || p[4] == "value" || p[4] == "proj_attn") && p.back() == "weight";
  }
  out.name = join(p);
  return out;
}

}  // namespace viscpm::diffusion

#include "common/module.h"

#include "common/error.h"

namespace viscpm::nn {

at::Tensor Module::register_parameter(const std::string& name, at::Tensor tensor, bool requires_grad) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw InvalidArgument("parameter name '" + name + "' must be non-empty and hold no '.'");
  if (tensor.defined() && tensor.requires_grad() != requires_grad) tensor.set_requires_grad(requires_grad);
  for (auto& [existing, value] : parameters_) {
    if (existing == name) {
      value = tensor;
      return tensor;
    }
  }
  parameters_.emplace_back(name, tensor);
  return tensor;
}

void Module::replace_parameter(const std::string& name, const at::Tensor& tensor) {
  for (auto& [existing, value] : parameters_) {
    if (existing == name) {
      value = tensor;
      return;
    }
  }
  throw InvalidArgument("no parameter '" + name + "' to replace");
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw InvalidArgument("module name '" + name + "' must be non-empty and hold no '.'");
  if (!child) throw InvalidArgument("module '" + name + "' is empty");
  for (auto& [existing, value] : children_) {
    if (existing == name) {
      value = std::move(child);
      return;
    }
  }
  children_.emplace_back(name, std::move(child));
}

Module* Module::child(const std::string& name) const {
  for (const auto& [existing, value] : children_)
    if (existing == name) return value.get();
  return nullptr;
}

// Undefined parameters (an absent bias) are left out, as torch::nn does.
void Module::collect(const std::string& prefix, std::vector<NamedTensor>& out) const {
  for (const auto& [name, value] : parameters_)
    if (value.defined()) out.emplace_back(prefix + name, value);
  for (const auto& [name, value] : children_) value->collect(prefix + name + ".", out);
}

std::vector<NamedTensor> Module::named_parameters(bool recurse) const {
  std::vector<NamedTensor> out;
  if (!recurse) {
    for (const auto& [name, value] : parameters_)
      if (value.defined()) out.emplace_back(name, value);
    return out;
  }
  collect("", out);
  return out;
}

std::vector<at::Tensor> Module::parameters(bool recurse) const {
  std::vector<at::Tensor> out;
  for (const auto& item : named_parameters(recurse)) out.push_back(item.value());
  return out;
}

at::Tensor Module::parameter(const std::string& path) const {
  const Module* owner = this;
  std::string rest = path;
  for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1)) {
    owner = owner->child(rest.substr(0, dot));
    if (!owner) throw InvalidArgument("no module on the path of parameter '" + path + "'");
  }
  for (const auto& [name, value] : owner->parameters_)
    if (name == rest && value.defined()) return value;
  throw InvalidArgument("no parameter '" + path + "'");
}

}  // namespace viscpm::nn

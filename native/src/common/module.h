// A minimal module tree for inference: named parameters and named children, nothing else.
//
// Models mirror the checkpoint keys by their parameter names ("encoder.layers.0.ffn..."),
// so loading, random initialisation and writing walk named_parameters(). LibTorch's
// viscpm::nn::Module offers the same, but its header pulls in autograd, serialization and
// the optimiser machinery (about 8 s of compile time per translation unit); inference needs
// none of it. The API follows torch::nn (register_parameter / register_module, Impl classes
// with a holder declared by VISCPM_MODULE) so model code reads the same.
//
// Not thread-safe while being built; immutable (and shareable) afterwards.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace viscpm::nn {

// One parameter as named_parameters() reports it (torch::nn's OrderedDict item shape).
class NamedTensor {
 public:
  NamedTensor(std::string key, at::Tensor value) : key_(std::move(key)), value_(std::move(value)) {}
  const std::string& key() const { return key_; }
  const at::Tensor& value() const { return value_; }

 private:
  std::string key_;
  at::Tensor value_;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Registers (or replaces) a parameter; returns the tensor handle. Parameters never
  // record gradients.
  at::Tensor register_parameter(const std::string& name, at::Tensor tensor, bool requires_grad = false);
  // Points an existing parameter at another tensor (e.g. a view of fused storage).
  void replace_parameter(const std::string& name, const at::Tensor& tensor);

  // Registers a child given as a holder (VISCPM_MODULE) or a shared_ptr; returns it.
  template <class Child>
  Child register_module(const std::string& name, Child child) {
    if constexpr (is_shared_ptr<Child>::value) {
      add_child(name, std::static_pointer_cast<Module>(child));
    } else {
      add_child(name, std::static_pointer_cast<Module>(child.ptr()));
    }
    return child;
  }

  // Parameters in registration order; with `recurse`, this module's first, then each
  // child's (depth first) under "<child>." prefixes, as viscpm::nn::Module does.
  std::vector<NamedTensor> named_parameters(bool recurse = true) const;
  std::vector<at::Tensor> parameters(bool recurse = true) const;
  // The parameter at a dotted path ("encoder.layers.0.weight"); InvalidArgument if none.
  at::Tensor parameter(const std::string& path) const;
  // The direct child called `name`, or nullptr.
  Module* child(const std::string& name) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 private:
  template <class T>
  struct is_shared_ptr : std::false_type {};
  template <class T>
  struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void collect(const std::string& prefix, std::vector<NamedTensor>& out) const;

  std::vector<std::pair<std::string, at::Tensor>> parameters_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Shared ownership of a module implementation, like viscpm::nn::ModuleHolder: `Name(args)`
// constructs a NameImpl, `Name(nullptr)` is empty, `->` reaches the implementation.
template <class Impl>
class ModuleHolder {
 public:
  using ContainedType = Impl;

  ModuleHolder(std::nullptr_t) {}  // NOLINT: empty holder, as torch's
  explicit ModuleHolder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  template <class Head, class... Tail,
            class = std::enable_if_t<!std::is_same_v<std::decay_t<Head>, std::nullptr_t> &&
                                     !std::is_same_v<std::decay_t<Head>, std::shared_ptr<Impl>> &&
                                     !std::is_base_of_v<ModuleHolder, std::decay_t<Head>>>>
  explicit ModuleHolder(Head&& head, Tail&&... tail)
      : impl_(std::make_shared<Impl>(std::forward<Head>(head), std::forward<Tail>(tail)...)) {}

  Impl* operator->() const { return impl_.get(); }
  Impl& operator*() const { return *impl_; }
  Impl* get() const { return impl_.get(); }
  const std::shared_ptr<Impl>& ptr() const { return impl_; }
  bool is_empty() const { return impl_ == nullptr; }
  explicit operator bool() const { return impl_ != nullptr; }

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace viscpm::nn

// Declares `Name` as the holder of `NameImpl`.
#define VISCPM_MODULE(Name)                                             \
  class Name : public ::viscpm::nn::ModuleHolder<Name##Impl> {          \
   public:                                                              \
    using ::viscpm::nn::ModuleHolder<Name##Impl>::ModuleHolder;         \
  }

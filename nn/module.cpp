#include "nn/module.h"

#include <unordered_set>

#include "core/autograd_meta.h"
#include "core/error.h"

namespace figs::nn {

namespace {

thread_local ForwardObserver* g_observer = nullptr;

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Tensor Module::forward(const Tensor&) {
  fail(type_name_, ": has no single-input forward(); call its own methods");
}

Tensor Module::operator()(const Tensor& x) {
  ForwardObserver* observer = g_observer;
  if (!observer) return forward(x);
  observer->before(*this, x);
  Tensor y = forward(x);
  observer->after(*this, x, y);
  return y;
}

void Module::check_new_name(const std::string& name, const char* what) const {
  FIGS_CHECK(!packed_, "register_", what, ": ", type_name_, " is already packed into a Model; cannot add '", name,
             "' (build the whole tree before creating the Model)");
  FIGS_CHECK(!name.empty() && name.find('.') == std::string::npos, "register_", what, ": invalid name '", name,
             "' in ", type_name_, " (names are non-empty and contain no '.')");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  bool clash = taken(children_);
  for (const NamedTensor& t : params_) clash = clash || t.name == name;
  for (const NamedTensor& t : buffers_) clash = clash || t.name == name;
  FIGS_CHECK(!clash, "register_", what, ": name '", name, "' is already used in ", type_name_);
}

Tensor Module::register_parameter(const std::string& name, const Tensor& value) {
  check_new_name(name, "parameter");
  FIGS_CHECK(value.defined(), "register_parameter: '", name, "' in ", type_name_, " is undefined");
  FIGS_CHECK(is_floating(value.dtype()), "register_parameter: '", name, "' in ", type_name_,
             " must be floating, got ", value.describe());
  Tensor p = value.detach();
  p.set_requires_grad(true);
  params_.push_back({name, p});
  return p;
}

Tensor Module::register_buffer(const std::string& name, const Tensor& value) {
  check_new_name(name, "buffer");
  FIGS_CHECK(value.defined(), "register_buffer: '", name, "' in ", type_name_, " is undefined");
  Tensor b = value.detach();
  buffers_.push_back({name, b});
  return b;
}

void Module::add_child(const std::string& name, ModulePtr child) {
  check_new_name(name, "module");
  FIGS_CHECK(child != nullptr, "register_module: '", name, "' in ", type_name_, " is null");
  FIGS_CHECK(!child->packed_, "register_module: '", name, "' (", child->type_name_,
             ") is already packed into a Model");
  children_.emplace_back(name, std::move(child));
}

void Module::collect(const std::string& prefix, bool parameters, bool recurse,
                     std::vector<NamedTensor>& out) const {
  for (const NamedTensor& t : parameters ? params_ : buffers_) out.push_back({join(prefix, t.name), t.tensor});
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(join(prefix, name), parameters, true, out);
}

namespace {
// A module reachable along two paths lists its tensors once, under the first name.
std::vector<NamedTensor> unique(std::vector<NamedTensor> all) {
  std::unordered_set<const TensorImpl*> seen;
  std::vector<NamedTensor> out;
  for (NamedTensor& t : all)
    if (seen.insert(&t.tensor.impl()).second) out.push_back(std::move(t));
  return out;
}
}  // namespace

std::vector<NamedTensor> Module::named_parameters(bool recurse) const {
  std::vector<NamedTensor> out;
  collect("", true, recurse, out);
  return unique(std::move(out));
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (NamedTensor& t : named_parameters(recurse)) out.push_back(std::move(t.tensor));
  return out;
}

std::vector<NamedTensor> Module::named_buffers(bool recurse) const {
  std::vector<NamedTensor> out;
  collect("", false, recurse, out);
  return unique(std::move(out));
}

std::vector<NamedModule> Module::named_modules() {
  std::vector<NamedModule> out;
  std::unordered_set<const Module*> seen;
  // Iterative pre-order walk (deep trees never recurse); children pushed in reverse.
  std::vector<NamedModule> stack{{"", this}};
  while (!stack.empty()) {
    NamedModule m = stack.back();
    stack.pop_back();
    if (!seen.insert(m.module).second) continue;
    out.push_back(m);
    const auto& children = m.module->children_;
    for (auto it = children.rbegin(); it != children.rend(); ++it)
      stack.push_back({join(m.name, it->first), it->second.get()});
  }
  return out;
}

Module& Module::module(const std::string& path) {
  if (path.empty()) return *this;
  Module* m = this;
  std::string walked;
  for (size_t start = 0;;) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    Module* next = nullptr;
    for (const auto& [name, child] : m->children_)
      if (name == part) next = child.get();
    FIGS_CHECK(next, "module: ", walked.empty() ? "the root" : "'" + walked + "'", " (", m->type_name_,
               ") has no child '", part, "' (looking up '", path, "')");
    m = next;
    walked = join(walked, part);
    if (dot == std::string::npos) return *m;
    start = dot + 1;
  }
}

Tensor Module::parameter(const std::string& path) const {
  for (const NamedTensor& t : named_parameters())
    if (t.name == path) return t.tensor;
  fail("parameter: no parameter named '", path, "' in ", type_name_);
}

Tensor Module::buffer(const std::string& path) const {
  for (const NamedTensor& t : named_buffers())
    if (t.name == path) return t.tensor;
  fail("buffer: no buffer named '", path, "' in ", type_name_);
}

void Module::train(bool on) {
  for (const NamedModule& m : named_modules()) m.module->training_ = on;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const NamedTensor& t : named_parameters()) n += t.tensor.numel();
  return n;
}

void Module::initialize(Generator& gen) {
  NoGradGuard no_grad;
  for (const NamedModule& m : named_modules()) m.module->reset_parameters(gen);
}

void Module::print(std::string& out, const std::string& name, int depth) const {
  out.append(2 * depth, ' ');
  if (!name.empty()) out += name + ": ";
  out += type_name_ + "(" + extra_repr() + ")";
  int64_t own = 0;
  for (const NamedTensor& t : params_) own += t.tensor.numel();
  if (own > 0) out += str_cat("  [", own, " params]");
  out += "\n";
  for (const auto& [child_name, child] : children_) child->print(out, child_name, depth + 1);
}

std::string Module::to_string() const {
  std::string out;
  print(out, "", 0);
  return out;
}

ObserveForwards::ObserveForwards(ForwardObserver* observer) : previous_(g_observer) { g_observer = observer; }
ObserveForwards::~ObserveForwards() { g_observer = previous_; }

}  // namespace figs::nn

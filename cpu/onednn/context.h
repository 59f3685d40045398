// Shared oneDNN plumbing for the CPU backend: one engine and stream, memory descriptors that
// describe our tensors in place (dims + strides, so NCHW and channels-last need no copy), a
// cache of primitives keyed by everything that shapes them, and user-managed scratchpads drawn
// from our caching allocator — so a training step with static shapes creates no primitive and
// allocates nothing after its first iteration.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/tensor.h"

namespace figs::cpu::onednn {

dnnl::engine& engine();
dnnl::stream& stream();

// The tensor as it lies in memory (float32), optionally viewed with other dims whose strides
// the caller supplies.
dnnl::memory::desc desc_of(const Tensor& t);
dnnl::memory::desc desc_with(const dnnl::memory::dims& dims, const dnnl::memory::dims& strides);
// A oneDNN memory object over the tensor's own data (no copy).
dnnl::memory memory_of(const dnnl::memory::desc& d, const Tensor& t);
// Scratch memory of a given descriptor, from the caching allocator; `keep` owns it.
dnnl::memory scratch_memory(const dnnl::memory::desc& d, Tensor& keep);
// Attributes every primitive is created with (user scratchpad).
dnnl::primitive_attr default_attr();
// Runs p with args plus its scratchpad (if it needs one), then waits.
void execute(const dnnl::primitive& p, const dnnl::primitive_desc_base& pd,
             std::unordered_map<int, dnnl::memory> args);

// Builds cache keys from the values that determine a primitive.
class Key {
 public:
  explicit Key(const char* op) : s_(op) {}
  Key& add(int64_t v);
  Key& add(const Tensor& t);  // shape and strides (undefined tensors count too)
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

// A process-wide cache of primitive bundles of type T, created once per key.
template <class T>
T& cached(const Key& key, const std::function<T()>& make) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::unique_ptr<T>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key.str());
  if (it == cache.end()) it = cache.emplace(key.str(), std::make_unique<T>(make())).first;
  return *it->second;
}

}  // namespace figs::cpu::onednn

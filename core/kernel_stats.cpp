#include "core/kernel_stats.h"

#include <chrono>
#include <mutex>
#include <sstream>
#include <vector>

namespace figs {

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<KernelCounter*> counters;
};
// Never destroyed: counters are statics whose destruction order is unknown.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

}  // namespace

KernelCounter::KernelCounter(const char* kernel, const char* implementation)
    : kernel_(kernel), implementation_(implementation) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.counters.push_back(this);
}

thread_local int OpScope::current_ = kNumOpKinds;

namespace {
std::array<std::atomic<int64_t>, kNumOpKinds> g_op_ns{};
std::array<std::atomic<long>, kNumOpKinds> g_op_calls{};
}  // namespace

int64_t OpScope::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void OpScope::add_time(int op, int64_t ns) {
  g_op_ns[op].fetch_add(ns, std::memory_order_relaxed);
  g_op_calls[op].fetch_add(1, std::memory_order_relaxed);
}

std::map<std::string, OpTime> op_times() {
  std::map<std::string, OpTime> out;
  for (int op = 0; op < kNumOpKinds; ++op)
    if (const long calls = g_op_calls[op].load(std::memory_order_relaxed); calls > 0)
      out[op_name(static_cast<OpKind>(op))] = {calls, 1e-9 * static_cast<double>(g_op_ns[op].load(std::memory_order_relaxed))};
  return out;
}

long KernelCounter::count() const {
  long n = 0;
  for (const std::atomic<long>& c : per_op_) n += c.load(std::memory_order_relaxed);
  return n;
}

void KernelCounter::reset() {
  for (std::atomic<long>& c : per_op_) c.store(0, std::memory_order_relaxed);
}

KernelCounts kernel_counts() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  KernelCounts counts;
  for (const KernelCounter* c : r.counters)
    if (c->count() > 0) counts[{c->kernel(), c->implementation()}] += c->count();
  return counts;
}

void reset_kernel_counts() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (KernelCounter* c : r.counters) c->reset();
  for (int op = 0; op < kNumOpKinds; ++op) {
    g_op_ns[op].store(0, std::memory_order_relaxed);
    g_op_calls[op].store(0, std::memory_order_relaxed);
  }
}

std::string kernel_counts_summary() {
  const KernelCounts c = kernel_counts();
  std::ostringstream os;
  std::string last;
  for (const auto& [key, n] : c) {
    if (key.first != last) {
      os << (last.empty() ? "" : "; ") << key.first << ": ";
      last = key.first;
    } else {
      os << ", ";
    }
    os << key.second << " x" << n;
  }
  return os.str();
}

OpKernelCounts op_kernel_counts() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  OpKernelCounts counts;
  for (const KernelCounter* c : r.counters)
    for (int op = 0; op <= kNumOpKinds; ++op)
      if (const long n = c->count_for_op(op); n > 0)
        counts[{op < kNumOpKinds ? op_name(static_cast<OpKind>(op)) : "", c->kernel(), c->implementation()}] += n;
  return counts;
}

std::string op_kernel_counts_summary() {
  const OpKernelCounts c = op_kernel_counts();
  std::ostringstream os;
  std::string last = "\x01";  // no op is named this
  for (const auto& [key, n] : c) {
    const auto& [op, kernel, impl] = key;
    if (op != last) {
      os << (last == "\x01" ? "" : "; ") << (op.empty() ? "(no op)" : op) << ": ";
      last = op;
    } else {
      os << ", ";
    }
    os << kernel << " " << impl << " x" << n;
  }
  return os.str();
}

}  // namespace figs

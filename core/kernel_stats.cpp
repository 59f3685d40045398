#include "core/kernel_stats.h"

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

}  // namespace figs

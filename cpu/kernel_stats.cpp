#include "cpu/kernel_stats.h"

#include <mutex>
#include <sstream>

namespace figs::cpu {

namespace {
std::mutex& stats_mutex() {
  static std::mutex m;
  return m;
}
KernelCounts& counts() {
  static KernelCounts c;
  return c;
}
}  // namespace

void count_kernel(const char* kernel, const char* implementation) {
  std::lock_guard<std::mutex> lock(stats_mutex());
  ++counts()[{kernel, implementation}];
}

KernelCounts kernel_counts() {
  std::lock_guard<std::mutex> lock(stats_mutex());
  return counts();
}

void reset_kernel_counts() {
  std::lock_guard<std::mutex> lock(stats_mutex());
  counts().clear();
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

}  // namespace figs::cpu

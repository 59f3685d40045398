// A small parallel-for on OpenMP (the same thread pool oneDNN uses).
//
// fn(begin, end) is called on disjoint, contiguous chunks covering [begin, end). fn must not
// throw: shape checks happen before kernels run, kernels only compute.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace figs {

inline int num_threads() { return omp_get_max_threads(); }
inline void set_num_threads(int n) { omp_set_num_threads(std::max(n, 1)); }

template <class Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const Fn& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(n / std::max<int64_t>(grain, 1), 1);
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), max_chunks));
  if (threads <= 1 || omp_in_parallel()) {
    fn(begin, end);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t lo = begin + n * t / nt, hi = begin + n * (t + 1) / nt;
    if (lo < hi) fn(lo, hi);
  }
}

}  // namespace figs

#include "core/denormals.h"

#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#define FIGS_HAS_MXCSR 1
#else
#define FIGS_HAS_MXCSR 0
#endif

namespace figs {

namespace {

#if FIGS_HAS_MXCSR
void set_this_thread(bool on) {
  _MM_SET_FLUSH_ZERO_MODE(on ? _MM_FLUSH_ZERO_ON : _MM_FLUSH_ZERO_OFF);
  _MM_SET_DENORMALS_ZERO_MODE(on ? _MM_DENORMALS_ZERO_ON : _MM_DENORMALS_ZERO_OFF);
}
#endif

}  // namespace

bool set_flush_denormals(bool on) {
#if FIGS_HAS_MXCSR
  set_this_thread(on);
  // Every thread of the pool runs the region once (static schedule, one iteration per thread):
  // the pool's threads keep their MXCSR between regions.
  const int threads = omp_get_max_threads();
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) set_this_thread(on);
  return true;
#else
  (void)on;
  return false;
#endif
}

bool flush_denormals_enabled() {
#if FIGS_HAS_MXCSR
  return _MM_GET_FLUSH_ZERO_MODE() == _MM_FLUSH_ZERO_ON && _MM_GET_DENORMALS_ZERO_MODE() == _MM_DENORMALS_ZERO_ON;
#else
  return false;
#endif
}

}  // namespace figs

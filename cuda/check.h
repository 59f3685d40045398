// Error checks for the CUDA runtime: every call and every launch is checked, and a failure
// becomes a figs::Error naming the call, the CUDA error and the source location.
#pragma once

#include <cuda_runtime.h>

#include "core/error.h"

#define FIGS_CUDA_CHECK(call)                                                                    \
  do {                                                                                           \
    const cudaError_t figs_cuda_status_ = (call);                                                \
    if (figs_cuda_status_ != cudaSuccess)                                                        \
      ::figs::fail("CUDA error in ", #call, ": ", cudaGetErrorName(figs_cuda_status_), " (",     \
                   cudaGetErrorString(figs_cuda_status_), ") at ", __FILE__, ":", __LINE__);     \
  } while (false)

// After a kernel launch: catches bad launch configurations immediately.
#define FIGS_CUDA_CHECK_LAUNCH() FIGS_CUDA_CHECK(cudaGetLastError())

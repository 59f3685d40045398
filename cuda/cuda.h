// What the CUDA backend can tell about the machine. Safe to call in every build: without CUDA
// (FIGS_WITH_CUDA=OFF) it reports no devices, and any use of Device::cuda() throws
// "figs was built without CUDA".
#pragma once

#include <cstdint>
#include <string>

namespace figs::cuda {

// Built with CUDA and at least one GPU is visible.
bool is_available();
int device_count();
// "NVIDIA H100 80GB HBM3 (sm_90)"; throws for an index that does not exist.
std::string device_name(int index = 0);
// How many times figs has made the host wait for a GPU so far: copies to the host, blocking
// copies from pageable host memory, reductions read on the host. A search step's count is its
// synchronisations (tests/cuda/test_cuda_search.cpp names the one it makes). 0 without CUDA.
int64_t host_syncs();

}  // namespace figs::cuda

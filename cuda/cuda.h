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

// TF32 tensor-core math for dense and grouped convolutions (cuDNN) and matmuls (cuBLAS) on GPUs
// that have it (compute capability 8.0 and up; older ones ignore it): products with a 10-bit
// mantissa, float32 accumulation. On by default, as PyTorch has it for convolutions; off gives
// strict float32, equal to the CPU's results to float32 rounding (the CUDA tests turn it off,
// tests/cuda/strict_float32.cpp). Depthwise convolutions, the mask and every other kernel compute
// in float32 either way. The figs command sets it from the configuration's "tf32".
void set_tf32(bool allow);
bool tf32();

}  // namespace figs::cuda

// What the CUDA backend can tell about the machine. Safe to call in every build: without CUDA
// (FIGS_WITH_CUDA=OFF) it reports no devices, and any use of Device::cuda() throws
// "figs was built without CUDA".
#pragma once

#include <string>

namespace figs::cuda {

// Built with CUDA and at least one GPU is visible.
bool is_available();
int device_count();
// "NVIDIA H100 80GB HBM3 (sm_90)"; throws for an index that does not exist.
std::string device_name(int index = 0);

}  // namespace figs::cuda

// Which implementation ran each kernel: the record that makes the CPU backend's choices
// explicit. Every kernel of cpu::CpuBackend counts its calls per (kernel, implementation), e.g.
// ("conv2d_forward", "onednn") or ("binary", "reference"); benchmarks print it, tests assert it.
#pragma once

#include <map>
#include <string>
#include <utility>

namespace figs::cpu {

using KernelCounts = std::map<std::pair<std::string, std::string>, long>;

void count_kernel(const char* kernel, const char* implementation);
KernelCounts kernel_counts();
void reset_kernel_counts();
// "conv2d_forward: onednn x12; binary: avx2 x30, reference x2"
std::string kernel_counts_summary();

}  // namespace figs::cpu

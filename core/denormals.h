// Denormal floats on the CPU: flush-to-zero (FTZ: a result below float's smallest normal number,
// 1.2e-38, becomes 0) and denormals-are-zero (DAZ: such an operand reads as 0).
//
// Why: x86 cores compute with denormal operands through microcode assists that cost ~100 cycles
// each. A FiGS search produces them by the million once tau anneals: a dead channel's mask value
// sigmoid(a / tau) falls below 1.2e-38 when a / tau < -87, and every activation it multiplies
// (and every gradient that flows back through it) becomes denormal. The study's searches ran 7x
// slower in their last 100 steps for that reason (docs/results.md, "Denormals"). With FTZ/DAZ
// those values are 0, which is what they mean.
//
// The mode is per thread (the MXCSR register on x86): set_flush_denormals() sets it in the
// calling thread and in every thread of the OpenMP pool (where oneDNN and the fast kernels run);
// threads created later by a thread that has it (OpenMP workers, the data loader's workers)
// inherit it. A library does not change its host's floating-point mode on its own: the `figs`
// command turns it on at start; programs embedding the engine call it themselves.
#pragma once

namespace figs {

// Returns false (and changes nothing) on CPUs without the controls (non-x86).
bool set_flush_denormals(bool on);
// Whether the calling thread flushes denormals.
bool flush_denormals_enabled();

}  // namespace figs

// Initialisers: fill a parameter in place from a Generator (counter-based, so a run that replays
// the same calls draws the same values on every backend and thread count).
//
// Fans follow PyTorch: a weight of shape (out, in) or (C_out, C_in / groups, KH, KW) has
//   fan_in = in * KH * KW (per group),  fan_out = out * KH * KW.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace figs::nn {

// The stream parameter initialisation draws from (Note [RNG layout] in core/rng.h): a Model
// initialises from Generator(seed, kInitStream), so it never collides with data or mask noise.
inline constexpr uint64_t kInitStream = 0x1417;

enum class FanMode { FanIn, FanOut };

struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};
Fans compute_fans(const Shape& shape);  // rank >= 2; `op` errors name "init"

inline double relu_gain() { return std::sqrt(2.0); }

// He et al. 2015: normal(0, gain / sqrt(fan)).
void kaiming_normal_(const Tensor& t, Generator& gen, FanMode mode = FanMode::FanIn, double gain = relu_gain());
// He et al. 2015: uniform(-b, b), b = gain * sqrt(3 / fan).
void kaiming_uniform_(const Tensor& t, Generator& gen, FanMode mode = FanMode::FanIn, double gain = relu_gain());
// Glorot & Bengio 2010: normal(0, gain * sqrt(2 / (fan_in + fan_out))).
void xavier_normal_(const Tensor& t, Generator& gen, double gain = 1.0);
// Glorot & Bengio 2010: uniform(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(const Tensor& t, Generator& gen, double gain = 1.0);
void constant_(const Tensor& t, double value);
inline void zeros_(const Tensor& t) { constant_(t, 0.0); }
inline void ones_(const Tensor& t) { constant_(t, 1.0); }

}  // namespace figs::nn

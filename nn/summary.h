// A printable summary of a network: one row per leaf-module call (name, type, output shape,
// parameters, MACs) for one forward pass on a given input shape.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace figs::nn {

struct LayerSummary {
  std::string name;  // dotted path from the root
  std::string type;
  Shape input_shape, output_shape;
  int64_t params = 0;  // the module's own parameters
  int64_t macs = 0;    // Module::macs for this call (whole batch)
};

struct ModelSummary {
  std::vector<LayerSummary> layers;  // leaf modules, in call order (a module called twice appears twice)
  Shape input_shape, output_shape;
  int64_t total_params = 0;  // num_parameters() of the root (shared parameters once)
  int64_t total_macs = 0;    // sum over the rows
  std::string str() const;   // an aligned table with a totals line
};

// Runs root(zeros(input_shape)) under NoGradGuard in eval mode (so BatchNorm statistics are
// not touched), restores every module's train/eval flag, and records each leaf module's call.
// MACs count multiply-accumulates of convolutions and linear layers; BatchNorm, pooling and
// activations count 0. Pass N = 1 for per-image MACs.
ModelSummary summarize(Module& root, const Shape& input_shape);

}  // namespace figs::nn

// ONNX export: a network as an ONNX model that other runtimes (ONNX Runtime, OpenCV DNN, ...)
// load, written with Debian's ONNX protobuf library (libonnx-dev). Library target figs_onnx
// (figs::onnx), which links libonnx and protobuf privately: no header here includes them.
//
// How: one eval-mode forward pass of the network is traced (autograd/trace.h), so every op the
// network runs becomes one ONNX node with the arguments it ran with — nothing is re-derived from
// the module tree, and a network any space builds exports the same way. Tensors the traced pass
// did not compute from the input (weights, BatchNorm statistics, eval masks, anything computed
// from them alone) become initializers holding the values they had in the pass.
//
//   figs op                          ONNX (opset 13, IR version 7)
//   conv2d (dense/grouped/dw)        Conv (kernel_shape, strides, pads, dilations, group)
//   batch_norm (eval)                BatchNormalization, or folded into the conv before it; its
//                                    fused ReLU a Relu after it
//   relu / relu6                     Relu / Clip(0, 6)
//   max_pool2d / avg_pool2d          MaxPool / AveragePool (count_include_pad as the op's)
//   global_avg_pool2d, mean(H, W)    GlobalAveragePool
//   concat, add/sub/mul/div          Concat, Add/Sub/Mul/Div
//   channel_scale (FiGS mask)        Mul by a (1, C, 1, 1) initializer
//   reshape/permute (channel shuffle), flatten   Reshape / Transpose, Flatten
//   linear, matmul                   Gemm (transB = 1), MatMul
// An op without a mapping is an error naming it and the module it ran in; so is an op the
// tracer did not see (found through the autograd graph of the traced pass).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/shape.h"
#include "nn/module.h"

namespace figs::deploy {

struct OnnxExportOptions {
  // Batch dimension of the input and output: N >= 1 fixed, 0 dynamic (the symbolic "batch").
  int64_t batch = 1;
  // Fold each eval-mode BatchNorm into the convolution that feeds it (when that conv feeds
  // nothing else): W' = W * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).
  bool fold_batch_norm = false;
  std::string input_name = "input", output_name = "logits";
  std::string graph_name = "figs";
  std::string doc_string;
  // metadata_props of the model, in this order (e.g. the architecture, the normalisation).
  std::vector<std::pair<std::string, std::string>> metadata;
};

struct OnnxExportSummary {
  int64_t nodes = 0;
  std::map<std::string, int64_t> op_types;  // ONNX op type -> nodes of that type
  int64_t folded_batch_norms = 0;
  int64_t initializer_values = 0;  // floats stored in initializers
};

// The serialized ONNX ModelProto of `network` (put in eval mode for the pass and left in eval
// mode) on inputs of shape (batch, C, H, W), `input_shape` = (C, H, W). Float32; the network
// may live on any device (initializers are copied to the host).
std::string export_onnx(nn::Module& network, const Shape& input_shape, const OnnxExportOptions& options = {},
                        OnnxExportSummary* summary = nullptr);

// What the ONNX checker says about a serialized model: onnx::checker::check_model and strict
// shape inference, whose inferred output shape must equal the declared one. Throws figs::Error
// with the checker's message; `origin` names the model in it.
void check_onnx(const std::string& serialized, const std::string& origin = "model");
// The same for a file.
void check_onnx_file(const std::string& path);

// The metadata_props of a model file, in order (for tests and `figs export` reports).
std::vector<std::pair<std::string, std::string>> read_onnx_metadata(const std::string& path);

}  // namespace figs::deploy

// Bad input: every op throws figs::Error, and the message names the op and what is wrong.
#include "test_util.h"

namespace figs {
namespace {

TEST(Errors, ShapeMismatchesNameTheOpAndTheShapes) {
  const Tensor x = zeros({1, 3, 5, 5}), w = zeros({4, 2, 3, 3});
  EXPECT_ERROR_MENTIONS(conv2d(x, w), "conv2d: input channels (3) do not match weight");
  EXPECT_ERROR_MENTIONS(conv2d(x, zeros({4, 3, 7, 7})), "conv2d: input [1,3,5,5] is smaller than the 7x7 kernel");
  EXPECT_ERROR_MENTIONS(conv2d(x, zeros({4, 3, 3, 3}), zeros({5})), "conv2d: bias must have shape [4]");
  Conv2dParams grouped;
  grouped.groups = 2;
  EXPECT_ERROR_MENTIONS(conv2d(x, zeros({4, 1, 3, 3}), Tensor(), grouped), "groups (2) must divide");
  EXPECT_ERROR_MENTIONS(conv2d(zeros({3, 5, 5}), w), "conv2d: input must have rank 4");
  EXPECT_ERROR_MENTIONS(matmul(zeros({2, 3}), zeros({4, 5})), "matmul: cannot multiply float32[2,3] cpu by float32[4,5]");
  EXPECT_ERROR_MENTIONS(add(zeros({2, 3}), zeros({3, 2})), "add: shapes [2,3] and [3,2] cannot be broadcast");
  EXPECT_ERROR_MENTIONS(linear(zeros({2, 3}), zeros({4, 5})), "linear: input");
  EXPECT_ERROR_MENTIONS(concat({zeros({1, 2, 3, 3}), zeros({1, 2, 4, 3})}), "concat: input 1 has shape [1,2,4,3]");
  EXPECT_ERROR_MENTIONS(max_pool2d(zeros({1, 1, 2, 2}), Pool2dParams{3, 3, 1, 1, 0, 0, true}),
                        "max_pool2d: input [1,1,2,2] is smaller than the 3x3 window");
  EXPECT_ERROR_MENTIONS(batch_norm(zeros({2, 3, 2, 2}), zeros({4}), zeros({4}), Tensor(), Tensor(), {}),
                        "batch_norm: gamma must have shape [3]");
  EXPECT_ERROR_MENTIONS(batch_norm(zeros({2, 3, 2, 2}), Tensor(), Tensor(), Tensor(), Tensor(), {false, 0.1, 1e-5}),
                        "batch_norm: eval mode needs running_mean");
  EXPECT_ERROR_MENTIONS(reshape(zeros({2, 3}), {5}), "reshape: float32[2,3] cpu has 6 elements");
}

TEST(Errors, MismatchedDtypesAndDevices) {
  EXPECT_ERROR_MENTIONS(add(zeros({2}), zeros({2}, {DType::Float64})), "add: inputs of different dtypes");
  EXPECT_ERROR_MENTIONS(relu(zeros({2}, {DType::Int64})), "relu: needs a floating tensor");
  EXPECT_ERROR_MENTIONS(zeros({2}, {DType::Int64}).set_requires_grad(), "cannot require gradients");
  if (!cuda::is_available()) {
    // Without a GPU (or without CUDA at all) asking for one is a clear error, not a crash.
    const std::string msg = test::error_of([] { zeros({2}, {DType::Float32, Device::cuda()}); });
    EXPECT_NE(msg.find("cuda"), std::string::npos) << msg;
  }
}

TEST(Errors, LossInputsAreValidated) {
  const Tensor logits = zeros({2, 3});
  EXPECT_ERROR_MENTIONS(cross_entropy(logits, from_vector<int64_t>({0, 3}, {2})),
                        "cross_entropy: label 3 at index 1 is outside [0, 3)");
  EXPECT_ERROR_MENTIONS(cross_entropy(logits, from_vector<float>({0, 1}, {2})), "labels must be int64 of shape [2]");
  EXPECT_ERROR_MENTIONS(cross_entropy(logits, from_vector<int64_t>({0, 1}, {2}), 1.0), "label_smoothing");
}

TEST(Errors, BackwardNeedsAScalarOrAGradient) {
  Tensor w = ones({2, 2}).set_requires_grad();
  const Tensor y = mul_scalar(w, 2.0);
  EXPECT_ERROR_MENTIONS(backward(y), "backward: output float32[2,2] cpu is not a scalar");
  EXPECT_ERROR_MENTIONS(backward(y, zeros({3})), "backward: gradient float32[3] cpu does not match");
  EXPECT_ERROR_MENTIONS(backward(zeros({})), "does not require grad");
}

TEST(Errors, RunningBackwardTwiceWithoutRetainingTheGraphIsReported) {
  Tensor w = ones({2}).set_requires_grad();
  const Tensor loss = sum(mul(w, w));
  backward(loss);
  EXPECT_ERROR_MENTIONS(backward(loss), "graph was already freed");
}

}  // namespace
}  // namespace figs

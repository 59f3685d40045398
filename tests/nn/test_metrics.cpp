// Accuracy / top-k metrics and the configured cross-entropy loss.
#include <cmath>
#include <limits>

#include "nn_test_util.h"

namespace figs::nn {
namespace {

TEST(NnMetrics, TopKWithTies) {
  // row 0: label 2 has the top logit;          rank 0
  // row 1: label 0 ties with class 1 for top;  rank 0 (the first maximum wins)
  // row 2: label 1 ties with class 0 for top;  rank 1
  // row 3: label 3 is the smallest;            rank 3
  const Tensor logits = from_vector<float>({0, 1, 5, 2,  //
                                            4, 4, 1, 0,  //
                                            3, 3, 0, 1,  //
                                            9, 8, 7, 1},
                                           {4, 4});
  const Tensor labels = from_vector<int64_t>({2, 0, 1, 3}, {4});
  EXPECT_EQ(count_topk_correct(logits, labels, 1), 2);
  EXPECT_EQ(count_topk_correct(logits, labels, 2), 3);
  EXPECT_EQ(count_topk_correct(logits, labels, 4), 4);
  EXPECT_DOUBLE_EQ(accuracy(logits, labels), 0.5);
  EXPECT_DOUBLE_EQ(topk_accuracy(logits, labels, 3), 0.75);

  AccuracyMeter meter({1, 2});
  meter.add(logits, labels);
  meter.add(logits, labels);
  EXPECT_EQ(meter.count(), 8);
  EXPECT_DOUBLE_EQ(meter.accuracy(1), 0.5);
  EXPECT_DOUBLE_EQ(meter.accuracy(2), 0.75);
  EXPECT_ERROR_MENTIONS(meter.accuracy(5), "k = 5 is not tracked");
  meter.reset();
  EXPECT_EQ(meter.accuracy(1), 0.0);
}

TEST(NnMetrics, NanIsNeverCorrectAndBadInputIsRejected) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor logits = from_vector<float>({nan, 0, 1, nan}, {2, 2});
  EXPECT_EQ(count_topk_correct(logits, from_vector<int64_t>({0, 1}, {2}), 2), 0);
  EXPECT_ERROR_MENTIONS(accuracy(logits, from_vector<int64_t>({0, 2}, {2})), "label 2 at index 1 is outside [0, 2)");
  EXPECT_ERROR_MENTIONS(accuracy(logits, from_vector<int64_t>({0}, {1})), "labels must be int64 of shape [2]");
  EXPECT_ERROR_MENTIONS(topk_accuracy(logits, from_vector<int64_t>({0, 1}, {2}), 0), "k must be >= 1");
}

TEST(NnLoss, CrossEntropyWithLabelSmoothing) {
  // logits (0, ln 3): softmax (1/4, 3/4). Label 1, smoothing 0.2, K = 2: targets (0.1, 0.9).
  // loss = -(0.1 ln 1/4 + 0.9 ln 3/4) = 0.1 ln 4 + 0.9 ln(4/3) = 0.13862944 + 0.25891387 = 0.39754330
  const Tensor logits = from_vector<double>({0.0, std::log(3.0)}, {1, 2});
  const Tensor labels = from_vector<int64_t>({1}, {1});
  EXPECT_NEAR(CrossEntropyLoss{0.2}(logits, labels).item<double>(), 0.39754330, 1e-8);
  EXPECT_NEAR(CrossEntropyLoss{}(logits, labels).item<double>(), std::log(4.0 / 3.0), 1e-12);
}

}  // namespace
}  // namespace figs::nn

// Classification metrics: top-k accuracy of logits (N, K) against int64 labels (N).
//
// A row counts as correct at k when fewer than k classes rank above its label, where class j
// ranks above the label l when logit[j] > logit[l], or logit[j] == logit[l] and j < l (the
// order argmax uses: first maximum wins). NaN logits never count as correct.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace figs::nn {

int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k = 1);
double topk_accuracy(const Tensor& logits, const Tensor& labels, int k);
inline double accuracy(const Tensor& logits, const Tensor& labels) { return topk_accuracy(logits, labels, 1); }

// Accumulates top-k accuracies over batches (e.g. ks = {1, 5} for an evaluation pass).
class AccuracyMeter {
 public:
  explicit AccuracyMeter(std::vector<int> ks = {1});
  void add(const Tensor& logits, const Tensor& labels);
  double accuracy(int k) const;  // k must be one of ks; 0 before any add()
  int64_t count() const { return count_; }
  void reset();

 private:
  std::vector<int> ks_;
  std::vector<int64_t> correct_;
  int64_t count_ = 0;
};

}  // namespace figs::nn

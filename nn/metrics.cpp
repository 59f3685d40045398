#include "nn/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace figs::nn {

namespace {

void check_inputs(const char* op, const Tensor& logits, const Tensor& labels, int k) {
  FIGS_CHECK(logits.defined() && is_floating(logits.dtype()) && logits.dim() == 2, op,
             ": logits must be floating (N, K), got ", logits.defined() ? logits.describe() : "undefined");
  FIGS_CHECK(labels.defined() && labels.dtype() == DType::Int64 && labels.dim() == 1 && labels.size(0) == logits.size(0),
             op, ": labels must be int64 of shape [", logits.size(0), "], got ",
             labels.defined() ? labels.describe() : "undefined");
  FIGS_CHECK(k >= 1, op, ": k must be >= 1, got ", k);
}

// For each row, how many classes rank above its label (see metrics.h); K + 1 for NaN.
std::vector<int64_t> label_ranks(const char* op, const Tensor& logits, const Tensor& labels) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const std::vector<double> x = logits.to_vector<double>();
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  std::vector<int64_t> ranks(N);
  for (int64_t n = 0; n < N; ++n) {
    FIGS_CHECK(y[n] >= 0 && y[n] < K, op, ": label ", y[n], " at index ", n, " is outside [0, ", K, ")");
    const double* row = &x[n * K];
    const double target = row[y[n]];
    int64_t above = 0;
    for (int64_t j = 0; j < K; ++j) above += row[j] > target || (row[j] == target && j < y[n]) || std::isnan(row[j]);
    ranks[n] = std::isnan(target) ? K + 1 : above;
  }
  return ranks;
}

}  // namespace

int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k) {
  check_inputs("count_topk_correct", logits, labels, k);
  const std::vector<int64_t> ranks = label_ranks("count_topk_correct", logits, labels);
  return std::count_if(ranks.begin(), ranks.end(), [k](int64_t r) { return r < k; });
}

double topk_accuracy(const Tensor& logits, const Tensor& labels, int k) {
  check_inputs("topk_accuracy", logits, labels, k);
  FIGS_CHECK(logits.size(0) > 0, "topk_accuracy: empty batch");
  return static_cast<double>(count_topk_correct(logits, labels, k)) / static_cast<double>(logits.size(0));
}

AccuracyMeter::AccuracyMeter(std::vector<int> ks) : ks_(std::move(ks)), correct_(ks_.size(), 0) {
  FIGS_CHECK(!ks_.empty(), "AccuracyMeter: needs at least one k");
  for (int k : ks_) FIGS_CHECK(k >= 1, "AccuracyMeter: k must be >= 1, got ", k);
}

void AccuracyMeter::add(const Tensor& logits, const Tensor& labels) {
  check_inputs("AccuracyMeter", logits, labels, 1);
  const std::vector<int64_t> ranks = label_ranks("AccuracyMeter", logits, labels);
  for (size_t i = 0; i < ks_.size(); ++i)
    correct_[i] += std::count_if(ranks.begin(), ranks.end(), [k = ks_[i]](int64_t r) { return r < k; });
  count_ += logits.size(0);
}

double AccuracyMeter::accuracy(int k) const {
  for (size_t i = 0; i < ks_.size(); ++i)
    if (ks_[i] == k) return count_ == 0 ? 0.0 : static_cast<double>(correct_[i]) / static_cast<double>(count_);
  fail("AccuracyMeter: k = ", k, " is not tracked");
}

void AccuracyMeter::reset() {
  std::fill(correct_.begin(), correct_.end(), 0);
  count_ = 0;
}

}  // namespace figs::nn

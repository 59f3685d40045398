// Reference kernels: log-softmax over dim 1 of (N, K), and the fused cross-entropy loss.
//
//   log_softmax(x)[n, k] = x[n, k] - lse_n,   lse_n = max_n + log sum_k exp(x[n, k] - max_n)
//   cross_entropy = (1/N) sum_n (lse_n - sum_k q[n, k] x[n, k]),
//       q = (1 - s) onehot(label_n) + s / K          (s: label smoothing; sum_k q = 1)
//   d cross_entropy / d x[n, k] = (softmax(x)[n, k] - q[n, k]) / N
#pragma once

#include <algorithm>
#include <cmath>

#include "cpu/reference/strided.h"

namespace figs::cpu::ref {

template <class T>
double row_logsumexp(const Matrix<const T>& X, int64_t n, int64_t K) {
  double mx = X(n, 0);
  for (int64_t k = 1; k < K; ++k) mx = std::max<double>(mx, X(n, k));
  double s = 0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(X(n, k) - mx);
  return mx + std::log(s);
}

template <class T>
void log_softmax_forward(const Tensor& x, const Tensor& y) {
  const Matrix<const T> X(x);
  const Matrix<T> Y(y);
  const int64_t N = x.size(0), K = x.size(1);
  for (int64_t n = 0; n < N; ++n) {
    const double lse = row_logsumexp(X, n, K);
    for (int64_t k = 0; k < K; ++k) Y(n, k) = static_cast<T>(X(n, k) - lse);
  }
}

// gx = gy - softmax * sum_k gy, with softmax = exp(y).
template <class T>
void log_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx) {
  const Matrix<const T> Y(y), GY(gy);
  const Matrix<T> GX(gx);
  const int64_t N = y.size(0), K = y.size(1);
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += GY(n, k);
    for (int64_t k = 0; k < K; ++k) GX(n, k) = static_cast<T>(GY(n, k) - std::exp(double(Y(n, k))) * s);
  }
}

template <class T>
void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& loss) {
  const Matrix<const T> X(logits);
  const int64_t* lab = labels.data<int64_t>();
  const int64_t N = logits.size(0), K = logits.size(1), ls = labels.stride(0);
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    double target = (1 - smoothing) * X(n, lab[n * ls]);
    if (smoothing != 0) {
      double row = 0;
      for (int64_t k = 0; k < K; ++k) row += X(n, k);
      target += smoothing / K * row;
    }
    total += row_logsumexp(X, n, K) - target;
  }
  *loss.data<T>() = static_cast<T>(total / N);
}

template <class T>
void cross_entropy_backward(const Tensor& logits, const Tensor& labels, double smoothing,
                            const Tensor& gloss, const Tensor& glogits) {
  const Matrix<const T> X(logits);
  const Matrix<T> G(glogits);
  const int64_t* lab = labels.data<int64_t>();
  const int64_t N = logits.size(0), K = logits.size(1), ls = labels.stride(0);
  const double scale = static_cast<double>(*gloss.data<T>()) / N;
  for (int64_t n = 0; n < N; ++n) {
    const double lse = row_logsumexp(X, n, K);
    for (int64_t k = 0; k < K; ++k) {
      const double q = (k == lab[n * ls] ? 1 - smoothing : 0.0) + smoothing / K;
      G(n, k) = static_cast<T>((std::exp(X(n, k) - lse) - q) * scale);
    }
  }
}

}  // namespace figs::cpu::ref

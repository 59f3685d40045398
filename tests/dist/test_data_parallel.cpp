// Data parallelism (core/distributed.h) against the single-process computation it must equal.
//
// The binary runs twice in CTest: alone (the single-process group; the collectives are no-ops and
// the comparisons hold trivially except where a case needs two ranks) and as `mpirun -np 2`
// (dist_mpi_2_ranks), where each rank also computes the oracle itself: the same model on the
// whole global batch, with the world switched to a single process for that computation.
#include <cmath>
#include <memory>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/distributed.h"
#include "cuda/cuda.h"
#include "dist/mpi_group.h"
#include "dist/nccl_group.h"
#include "nn/nn.h"
#include "nn/optim/sgd.h"
#include "../nn/nn_test_util.h"

namespace figs {
namespace {

using nn::test::small_cnn;

std::shared_ptr<dist::ProcessGroup> g_mpi;  // the real world, when launched by mpirun

// Runs fn as a plain single process (the oracle), then restores the world.
template <class Fn>
void as_single_process(Fn&& fn) {
  dist::set_world(nullptr);
  fn();
  dist::set_world(g_mpi);
}

// The global batch, the same on every rank, and this rank's share (contiguous rows).
struct Batch {
  Tensor images, labels;
};
Batch global_batch(int64_t n) {
  Generator g(5, 0);
  Batch b{uniform({n, 1, 9, 11}, -1, 1, g), {}};
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = (i * 7) % 3;
  b.labels = from_vector(labels, {n});
  return b;
}
Batch share(const Batch& b) {
  const int64_t n = b.images.size(0), w = dist::world().world_size(), r = dist::world().rank();
  const int64_t per = n / w;
  return {raw::contiguous(raw::narrow(b.images, 0, r * per, per)), raw::contiguous(raw::narrow(b.labels, 0, r * per, per))};
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
  return d;
}

TEST(DataParallel, CollectivesSumBroadcastAndAgree) {
  dist::ProcessGroup& w = dist::world();
  const int n = w.world_size();
  Tensor t = full({5}, w.rank() + 1.0);
  w.all_reduce_sum(t);
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, n * (n + 1) / 2.0f);
  double d[2] = {1.0, static_cast<double>(w.rank())};
  w.all_reduce_sum(d, 2);
  EXPECT_EQ(d[0], n);
  EXPECT_EQ(d[1], n * (n - 1) / 2.0);
  uint64_t word = w.is_root() ? 0x1234567890abcdefULL : 0;
  w.broadcast(&word, sizeof word, 0);
  EXPECT_EQ(word, 0x1234567890abcdefULL);
  EXPECT_TRUE(dist::all_ranks_agree(42));
  EXPECT_EQ(dist::all_ranks_agree(static_cast<uint64_t>(w.rank())), n == 1);
  EXPECT_DOUBLE_EQ(dist::all_reduce_mean(w.rank()), (n - 1) / 2.0);
}

// A training step of a conv-BN network on each rank's share with synchronised BatchNorm, the
// gradients averaged by the optimizer, equals the step on the whole batch in one process: the
// same loss, gradients, running statistics and updated weights, to float rounding.
TEST(DataParallel, SyncBatchNormStepEqualsTheWholeBatch) {
  const int64_t n = 12;
  const Batch all = global_batch(n);
  nn::Model reference(small_cnn(), {.seed = 3});
  double reference_loss = 0;
  as_single_process([&] {
    nn::Sgd opt(reference, {.lr = 0.1, .momentum = 0.0});
    opt.zero_grad();
    const Tensor loss = cross_entropy(reference(all.images), all.labels);
    backward(loss);
    reference_loss = loss.item<double>();
    opt.step();
  });

  nn::Model model(small_cnn(), {.seed = 3});
  nn::Sgd opt(model, {.lr = 0.1, .momentum = 0.0});
  const Batch mine = share(all);
  dist::set_sync_batch_norm(true);
  opt.zero_grad();
  const Tensor loss = cross_entropy(model(mine.images), mine.labels);
  backward(loss);
  opt.step();  // averages the gradients over the ranks first
  dist::set_sync_batch_norm(false);
  EXPECT_NEAR(dist::all_reduce_mean(loss.item<double>()), reference_loss, 1e-6);
  EXPECT_LT(max_abs_diff(model.grads(), reference.grads()), 2e-6);
  EXPECT_LT(max_abs_diff(model.params(), reference.params()), 2e-7);
  EXPECT_LT(max_abs_diff(model.buffers(), reference.buffers()), 2e-6);  // global-batch running statistics
}

// Without synchronisation each rank normalises its own share: the weight gradients are still
// averaged (identical weights everywhere), but they are not the whole batch's.
TEST(DataParallel, WithoutSyncEveryRankKeepsTheSameWeights) {
  const Batch all = global_batch(12);
  nn::Model model(small_cnn(), {.seed = 3});
  nn::Sgd opt(model, {.lr = 0.1, .momentum = 0.0});
  const Batch mine = share(all);
  opt.zero_grad();
  backward(cross_entropy(model(mine.images), mine.labels));
  opt.step();
  Tensor params = raw::clone(model.params());
  Tensor root = raw::clone(params);
  dist::world().broadcast(root.raw_data(), static_cast<size_t>(root.numel()) * sizeof(float), 0);
  EXPECT_EQ(max_abs_diff(params, root), 0.0);
}

// NCCL on the GPU (GPU machines only): a communicator over the ranks, all-reducing a CUDA tensor
// on the legacy stream. Several ranks need one GPU each, so only a 1-rank run tests it here.
TEST(DataParallel, NcclAllReducesCudaTensors) {
  if (!cuda::is_available()) GTEST_SKIP() << "no GPU";
  if (!dist::nccl_available()) GTEST_SKIP() << "built without NCCL";
  if (dist::world().world_size() > 1) GTEST_SKIP() << "several ranks need one GPU each";
  const auto group = dist::make_nccl_group(dist::single_process_group(), 0);
  EXPECT_EQ(group->backend_name(), "nccl");
  const Tensor values = from_vector(std::vector<float>{1.5f, -2.0f, 3.25f}, {3});
  const Tensor on_gpu = raw::to(values, Device::cuda());
  group->all_reduce_sum(on_gpu);
  EXPECT_EQ(raw::to(on_gpu, Device::cpu()).to_vector<float>(), values.to_vector<float>());  // one rank: the sum is itself
  group->all_reduce_sum(values);  // CPU tensors go to the host group
  EXPECT_EQ(group->stats().tensor_all_reduces, 1);
}

}  // namespace
}  // namespace figs

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (figs::dist::launched_by_mpirun()) {
    figs::g_mpi = figs::dist::make_mpi_group();
    figs::dist::set_world(figs::g_mpi);
    // One rank's report is enough (the other's failures still fail its exit code).
    if (!figs::g_mpi->is_root()) delete testing::UnitTest::GetInstance()->listeners().Release(
        testing::UnitTest::GetInstance()->listeners().default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  figs::dist::set_world(nullptr);
  figs::g_mpi.reset();
  return rc;
}

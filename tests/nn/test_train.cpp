// End to end: a small CNN built from nn layers learns a synthetic task to 100% train accuracy
// with Adam and with SGD; and a run checkpointed and resumed equals a run straight through,
// bit for bit.
#include "nn_test_util.h"

namespace figs::nn {
namespace {

using test::bits;
using test::TrainingRun;
using test::TempDir;

// Full-batch training; accuracy measured in eval mode (running BN statistics), every 10 steps.
template <class Opt, class Options>
std::pair<double, int> train_to_full_accuracy(const Options& options, int max_steps) {
  Tensor images, labels;
  test::make_bars(60, images, labels);
  Model model(test::small_cnn(), {.seed = 1});
  Opt opt(model, options);
  double acc = 0;
  int step = 0;
  while (step < max_steps && acc < 1.0) {
    model.train();
    opt.zero_grad();
    backward(CrossEntropyLoss{}(model(images), labels));
    opt.step();
    if (++step % 10 == 0) {
      model.eval();
      NoGradGuard no_grad;
      acc = accuracy(model(images), labels);
    }
  }
  return {acc, step};
}

TEST(NnTrain, SmallCnnReachesFullTrainAccuracyWithAdam) {
  const auto [acc, steps] = train_to_full_accuracy<Adam>(AdamOptions{.lr = 0.02}, 300);
  EXPECT_EQ(acc, 1.0) << "after " << steps << " steps";
}

TEST(NnTrain, SmallCnnReachesFullTrainAccuracyWithSgd) {
  const auto [acc, steps] = train_to_full_accuracy<Sgd>(SgdOptions{.lr = 0.1, .momentum = 0.9}, 300);
  EXPECT_EQ(acc, 1.0) << "after " << steps << " steps";
}

void expect_identical(const TrainingRun& a, const TrainingRun& b) {
  EXPECT_EQ(bits(a.model->params()), bits(b.model->params()));
  EXPECT_EQ(bits(a.model->buffers()), bits(b.model->buffers()));
  EXPECT_EQ(bits(a.ema->shadow_params()), bits(b.ema->shadow_params()));
  EXPECT_EQ(bits(a.ema->shadow_buffers()), bits(b.ema->shadow_buffers()));
  const auto sa = a.optimizer->state(), sb = b.optimizer->state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(bits(sa[i].tensor), bits(sb[i].tensor)) << sa[i].name;
  EXPECT_EQ(a.optimizer->step_count(), b.optimizer->step_count());
  EXPECT_EQ(a.data.offset(), b.data.offset());
}

void resume_is_bit_identical(bool adam) {
  TempDir dir;
  constexpr int N = 6, M = 6;
  TrainingRun straight(adam);
  straight.train(N + M);

  TrainingRun first(adam);
  first.train(N);
  save_checkpoint(dir.file("n.ckpt"), first.state());

  TrainingRun resumed(adam, 3, /*seed=*/42);  // a new process: other initial weights, fresh state
  TrainingState s = resumed.state();
  load_checkpoint(dir.file("n.ckpt"), s);
  EXPECT_EQ(s.step, N);
  resumed.train(M);
  expect_identical(straight, resumed);
}

TEST(NnTrain, ResumeFromCheckpointIsBitIdenticalAdam) { resume_is_bit_identical(true); }
TEST(NnTrain, ResumeFromCheckpointIsBitIdenticalSgd) { resume_is_bit_identical(false); }

}  // namespace
}  // namespace figs::nn

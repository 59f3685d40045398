#include "core/distributed.h"

#include <cstdlib>
#include <mutex>

#include "core/backend.h"
#include "core/error.h"

namespace figs::dist {

namespace {

class SingleProcessGroup : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend_name() const override { return "single"; }
  void all_reduce_sum(const Tensor&) override {}
  void all_reduce_sum(double*, size_t) override {}
  void broadcast(void*, size_t, int root) override {
    FIGS_CHECK(root == 0, "broadcast: root ", root, " does not exist in a single-process group");
  }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

std::shared_ptr<ProcessGroup>& installed() {
  static std::shared_ptr<ProcessGroup> group = std::make_shared<SingleProcessGroup>();
  return group;
}

bool g_sync_batch_norm = false;

}  // namespace

std::shared_ptr<ProcessGroup> single_process_group() { return std::make_shared<SingleProcessGroup>(); }

ProcessGroup& world() { return *installed(); }

void set_world(std::shared_ptr<ProcessGroup> group) {
  installed() = group ? std::move(group) : std::make_shared<SingleProcessGroup>();
}

void average_over_ranks(const Tensor& t) {
  ProcessGroup& w = world();
  if (w.world_size() == 1 || !t.defined() || t.numel() == 0) return;
  w.all_reduce_sum(t);
  backend_of(t).unary(UnaryOp::MulScalar, 1.0 / w.world_size(), t, t);
}

double all_reduce_mean(double value) {
  ProcessGroup& w = world();
  w.all_reduce_sum(&value, 1);
  return value / w.world_size();
}

bool all_ranks_agree(uint64_t value) {
  ProcessGroup& w = world();
  uint64_t root_value = value;
  w.broadcast(&root_value, sizeof root_value, 0);
  double differ = root_value != value ? 1.0 : 0.0;
  w.all_reduce_sum(&differ, 1);
  return differ == 0.0;
}

void set_sync_batch_norm(bool on) { g_sync_batch_norm = on; }
bool sync_batch_norm() { return g_sync_batch_norm; }

}  // namespace figs::dist

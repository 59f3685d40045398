#include "autograd/trace.h"

namespace figs {

namespace {
thread_local OpTracer* tl_tracer = nullptr;
// Composite ops running on this thread since the tracer was installed (Note [trace nesting]).
thread_local int tl_depth = 0;
}  // namespace

TraceOps::TraceOps(OpTracer* tracer) : previous_(tl_tracer), previous_depth_(tl_depth) {
  tl_tracer = tracer;
  tl_depth = 0;
}

TraceOps::~TraceOps() {
  tl_tracer = previous_;
  tl_depth = previous_depth_;
}

namespace trace {

bool active() { return tl_tracer != nullptr && tl_depth == 0; }

void record(TracedOp op) {
  if (tl_tracer != nullptr) tl_tracer->record(std::move(op));
}

Composite::Composite() {
  if (tl_tracer == nullptr) return;
  reporting_ = tl_depth == 0;
  nested_ = true;
  ++tl_depth;
}

Composite::~Composite() {
  if (nested_) --tl_depth;
}

void Composite::finish(TracedOp op) {
  if (nested_) {
    --tl_depth;
    nested_ = false;
  }
  if (reporting_) record(std::move(op));
  reporting_ = false;
}

}  // namespace trace
}  // namespace figs

#include "cpu/onednn/context.h"

#include "core/error.h"

namespace figs::cpu::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

dnnl::memory::desc desc_with(const dnnl::memory::dims& dims, const dnnl::memory::dims& strides) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::desc desc_of(const Tensor& t) {
  dnnl::memory::dims dims(t.shape().begin(), t.shape().end()), strides(t.strides().begin(), t.strides().end());
  return desc_with(dims, strides);
}

dnnl::memory memory_of(const dnnl::memory::desc& d, const Tensor& t) {
  return dnnl::memory(d, engine(), t.raw_data());
}

dnnl::memory scratch_memory(const dnnl::memory::desc& d, Tensor& keep) {
  const int64_t floats = static_cast<int64_t>((d.get_size() + sizeof(float) - 1) / sizeof(float));
  keep = empty({std::max<int64_t>(floats, 1)});
  return dnnl::memory(d, engine(), keep.raw_data());
}

dnnl::primitive_attr default_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute(const dnnl::primitive& p, const dnnl::primitive_desc_base& pd,
             std::unordered_map<int, dnnl::memory> args) {
  Tensor scratch;
  const dnnl::memory::desc sd = pd.scratchpad_desc();
  if (sd.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, scratch_memory(sd, scratch));
  p.execute(stream(), args);
  stream().wait();
}

Key& Key::add(int64_t v) {
  s_ += ',';
  s_ += std::to_string(v);
  return *this;
}

Key& Key::add(const Tensor& t) {
  if (!t.defined()) return add(-1);
  s_ += "|";
  for (int64_t d : t.shape()) add(d);
  s_ += "/";
  for (int64_t s : t.strides()) add(s);
  return *this;
}

}  // namespace figs::cpu::onednn

#include "core/tensor.h"

#include <iomanip>

#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/view.h"

namespace figs {

namespace {
thread_local bool grad_mode_enabled = true;
}  // namespace

bool GradMode::is_enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

TensorImpl& Tensor::impl() const {
  FIGS_CHECK(impl_ != nullptr, "Tensor: use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "Tensor::size")]; }
int64_t Tensor::stride(int64_t d) const {
  return strides()[normalize_dim(d, dim(), "Tensor::stride")];
}

bool Tensor::is_contiguous(MemoryFormat format) const {
  if (format == MemoryFormat::ChannelsLast && dim() != 4) return false;
  const Strides expected = strides_for(shape(), format);
  for (int i = 0; i < dim(); ++i)
    if (shape()[i] != 1 && strides()[i] != expected[i]) return false;
  return true;
}

MemoryFormat Tensor::memory_format() const {
  if (dim() != 4) return MemoryFormat::Contiguous;
  if (!is_contiguous(MemoryFormat::ChannelsLast)) {
    // A view such as a channel slice: the layout family its strides follow (channels moving
    // fastest = channels-last), so tensors made "like" it keep the network's layout.
    const bool channels_fastest = size(1) > 1 && stride(1) < stride(3) && stride(3) <= stride(2);
    return !is_contiguous() && channels_fastest ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  }
  if (!is_contiguous()) return MemoryFormat::ChannelsLast;
  // Both layouts describe the same memory (size-1 dims, e.g. one channel or a 1x1 image): the
  // exact strides tell which one the tensor was made in, so outputs keep following it.
  return strides() == channels_last_strides(shape()) ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return str_cat(dtype_name(dtype()), shape(), ' ', device());
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<int64_t>(dtype_size(dtype()));
}

template <class T>
T* Tensor::data() const {
  FIGS_CHECK(dtype() == dtype_v<T>, "Tensor::data: tensor is ", dtype_name(dtype()),
             ", asked for ", dtype_name(dtype_v<T>));
  return static_cast<T*>(raw_data());
}

template <class T>
T Tensor::at(std::initializer_list<int64_t> index) const {
  FIGS_CHECK(device().is_cpu(), "Tensor::at: tensor is on ", device(), "; move it to the CPU first");
  FIGS_CHECK(static_cast<int>(index.size()) == dim(), "Tensor::at: ", index.size(),
             " indices for a ", describe(), " tensor");
  int64_t off = 0;
  int d = 0;
  for (int64_t i : index) {
    FIGS_CHECK(i >= 0 && i < shape()[d], "Tensor::at: index ", i, " out of range for dim ", d,
               " of ", describe());
    off += i * strides()[d++];
  }
  return data<T>()[off];
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor host = raw::contiguous(raw::to(*this, Device::cpu()));
  std::vector<T> out(static_cast<size_t>(numel()));
  auto convert = [&](auto tag) {
    using S = decltype(tag);
    const S* p = host.data<S>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  };
  switch (dtype()) {
    case DType::Float32: convert(float{}); break;
    case DType::Float64: convert(double{}); break;
    case DType::Int64: convert(int64_t{}); break;
  }
  return out;
}

template <class T>
T Tensor::item() const {
  FIGS_CHECK(numel() == 1, "Tensor::item: needs a one-element tensor, got ", describe());
  return to_vector<T>()[0];
}

#define FIGS_INSTANTIATE_ACCESS(T)                                   \
  template T* Tensor::data<T>() const;                               \
  template T Tensor::at<T>(std::initializer_list<int64_t>) const;    \
  template T Tensor::item<T>() const;                                \
  template std::vector<T> Tensor::to_vector<T>() const;
FIGS_INSTANTIATE_ACCESS(float)
FIGS_INSTANTIATE_ACCESS(double)
FIGS_INSTANTIATE_ACCESS(int64_t)
#undef FIGS_INSTANTIATE_ACCESS

// --- autograd state ---------------------------------------------------------------------------

bool Tensor::requires_grad() const {
  const auto& m = impl().autograd;
  return m && (m->requires_grad || m->grad_fn);
}

Tensor& Tensor::set_requires_grad(bool enabled) {
  auto& m = impl().autograd;
  FIGS_CHECK(!(m && m->grad_fn), "set_requires_grad: only leaf tensors can be marked; this one is "
             "the output of an op (use detach() to make a leaf)");
  FIGS_CHECK(!enabled || is_floating(dtype()), "set_requires_grad: a ", dtype_name(dtype()),
             " tensor cannot require gradients");
  if (!m) m = std::make_shared<AutogradMeta>();
  m->requires_grad = enabled;
  return *this;
}

bool Tensor::is_leaf() const {
  const auto& m = impl().autograd;
  return !(m && m->grad_fn);
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  const auto& m = impl().autograd;
  return m ? m->grad : undefined;
}

void Tensor::set_grad(const Tensor& g) {
  FIGS_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient ", g.describe(),
             " does not match tensor ", describe());
  auto& m = impl().autograd;
  if (!m) m = std::make_shared<AutogradMeta>();
  m->grad = g;
}

void Tensor::zero_grad() {
  if (impl().autograd) impl().autograd->grad = Tensor();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  const auto& m = impl().autograd;
  return m ? m->grad_fn : none;
}

Tensor Tensor::detach() const {
  auto copy = std::make_shared<TensorImpl>(impl());
  copy->autograd = nullptr;
  return Tensor(std::move(copy));
}

// --- printing ---------------------------------------------------------------------------------

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor(" << t.describe();
  if (t.requires_grad()) os << ", requires_grad";
  os << ")\n";
  const auto values = t.to_vector<double>();
  constexpr size_t kMaxPrinted = 64;
  const Shape& s = t.shape();
  const int64_t row = s.rank() ? s[s.rank() - 1] : 1;
  os << std::setprecision(6);
  for (size_t i = 0; i < values.size() && i < kMaxPrinted; ++i) {
    os << (i % row == 0 ? (i ? "\n  " : "  ") : " ") << values[i];
  }
  if (values.size() > kMaxPrinted) os << " ... (" << values.size() - kMaxPrinted << " more)";
  return os;
}

// --- factories --------------------------------------------------------------------------------

Tensor empty(const Shape& shape, const TensorOptions& options) {
  for (int64_t d : shape) FIGS_CHECK(d >= 0, "empty: negative size in shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  const size_t nbytes = static_cast<size_t>(shape.numel()) * dtype_size(options.dtype);
  impl->storage = backend_for(options.device).allocate(nbytes, options.device);
  impl->shape = shape;
  impl->strides = strides_for(shape, options.format);
  impl->dtype = options.dtype;
  return Tensor(std::move(impl));
}

Tensor tensor_on_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  for (int64_t d : shape) FIGS_CHECK(d >= 0, "tensor_on_storage: negative size in shape ", shape);
  const size_t nbytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  FIGS_CHECK(storage != nullptr && storage->nbytes() >= nbytes, "tensor_on_storage: ", shape, " of ", dtype_name(dtype),
             " needs ", nbytes, " bytes, the storage holds ", storage ? storage->nbytes() : 0);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides_for(shape, MemoryFormat::Contiguous);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor full(const Shape& shape, double value, const TensorOptions& options) {
  Tensor t = empty(shape, options);
  if (t.numel() > 0) backend_of(t).fill(t, value);
  return t;
}
Tensor zeros(const Shape& shape, const TensorOptions& options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, const TensorOptions& options) { return full(shape, 1.0, options); }

Tensor uniform(const Shape& shape, double low, double high, Generator& gen,
               const TensorOptions& options) {
  FIGS_CHECK(low < high, "uniform: low (", low, ") must be below high (", high, ")");
  Tensor t = empty(shape, options);
  const RngDraw draw = gen.reserve(static_cast<uint64_t>(t.numel()));
  if (t.numel() > 0) backend_of(t).fill_uniform(t, draw, low, high);
  return t;
}

Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen,
              const TensorOptions& options) {
  FIGS_CHECK(stddev >= 0, "normal: stddev must be >= 0, got ", stddev);
  Tensor t = empty(shape, options);
  const RngDraw draw = gen.reserve(static_cast<uint64_t>(t.numel()));
  if (t.numel() > 0) backend_of(t).fill_normal(t, draw, mean, stddev);
  return t;
}

Tensor arange(int64_t n, const TensorOptions& options) {
  FIGS_CHECK(n >= 0, "arange: n must be >= 0, got ", n);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return raw::to(raw::to_dtype(from_vector(v, {n}), options.dtype), options.device);
}

Tensor empty_like(const Tensor& like) {
  return empty(like.shape(), {like.dtype(), like.device(), like.memory_format()});
}
Tensor zeros_like(const Tensor& like) {
  return zeros(like.shape(), {like.dtype(), like.device(), like.memory_format()});
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  FIGS_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "from_vector: ", values.size(),
             " values for shape ", shape, " (", shape.numel(), " elements)");
  Tensor t = empty(shape, {dtype_v<T>, Device::cpu()});
  std::copy(values.begin(), values.end(), t.data<T>());
  return raw::to(t, device);
}
template Tensor from_vector(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, Device);

}  // namespace figs

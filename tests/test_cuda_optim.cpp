// SGD and AdamW on CUDA against the same optimizer on the CPU: several steps
// with the same random gradients, then every parameter storage and every state
// buffer compared (relative error < 1e-6; the shared per-element rules make
// the two bit-identical on the default build, which the tests report). Base
// parameters that are sub-block views of a motivated weight update only their
// sub-region on the device, every other element bit-identical; many
// parameters of mixed sizes and geometries go through the multi-tensor launch
// (more than one table's worth). Skips (one line) without a GPU.
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/optim.h"
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>()>;

bool bit_identical(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// The whole storage under t, flat.
Tensor whole(const Tensor& t) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = {static_cast<int64_t>(t.storage()->nbytes() / dtype_size(t.dtype()))};
  impl->strides = {1};
  impl->dtype = t.dtype();
  return Tensor(std::move(impl));
}

// The parameters on CUDA with the same geometry: one device copy per storage,
// so views and owners still share their storage there.
std::vector<Tensor> mirror_on_cuda(const std::vector<Tensor>& params) {
  std::map<const Storage*, std::shared_ptr<Storage>> copies;
  std::vector<Tensor> out;
  for (const Tensor& p : params) {
    std::shared_ptr<Storage>& copy = copies[p.storage().get()];
    if (!copy) copy = whole(p).to(Device::CUDA).storage();
    auto impl = std::make_shared<TensorImpl>(p.impl());
    impl->storage = copy;
    impl->grad_fn = nullptr;
    impl->grad_touched = false;
    out.emplace_back(std::move(impl));
  }
  return out;
}

void check_close(const Tensor& cuda, const Tensor& cpu, const std::string& what) {
  CAPTURE(what);
  REQUIRE(cuda.device() == Device::CUDA);
  const double err = rel_error(cuda, cpu);
  CHECK_MESSAGE(err < 1e-6, what << ": relative error " << err);
  WARN_MESSAGE(bit_identical(cuda.to_vector(), cpu.to_vector()),
               what << " is not bit-identical to the CPU (relative error " << err << ")");
}

// Runs `steps` steps of the optimizer over `params` (CPU leaves) on the CPU
// and over their CUDA mirror; in step s, parameter i gets a fresh random
// gradient when stepping(s, i). Then compares every storage and state buffer.
// Returns the CUDA parameters.
std::vector<Tensor> run_both(const MakeOptimizer& make, const std::vector<Tensor>& params,
                             int steps, const std::function<bool(int, size_t)>& stepping,
                             DecayRule rule = DecayRule::All) {
  const std::vector<Tensor> device = mirror_on_cuda(params);
  auto cpu_opt = make(), cuda_opt = make();
  cpu_opt->add_params(params, rule);
  cuda_opt->add_params(device, rule);
  Generator gen(123);
  for (int s = 0; s < steps; ++s) {
    cpu_opt->zero_grad();
    cuda_opt->zero_grad();
    for (size_t i = 0; i < params.size(); ++i) {
      if (!stepping(s, i)) continue;
      const Tensor g = rand_uniform(params[i].shape(), -1.0, 1.0, gen, params[i].dtype());
      accumulate_leaf_grad(params[i], g);
      accumulate_leaf_grad(device[i], g.to(Device::CUDA));
    }
    cpu_opt->step();
    cuda_opt->step();
  }
  for (size_t i = 0; i < params.size(); ++i)
    check_close(whole(device[i]), whole(params[i]), "storage of parameter " + std::to_string(i));
  const NamedTensors cpu_state = cpu_opt->state_tensors(), cuda_state = cuda_opt->state_tensors();
  REQUIRE(cpu_state.size() == cuda_state.size());
  for (size_t k = 0; k < cpu_state.size(); ++k) {
    CHECK(cuda_state[k].first == cpu_state[k].first);
    const std::string& name = cpu_state[k].first;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".step") == 0) {  // host scalars
      CHECK(cuda_state[k].second.item() == cpu_state[k].second.item());
    } else {
      check_close(cuda_state[k].second, cpu_state[k].second, name);
    }
  }
  return device;
}

Tensor leaf(const Shape& shape, Generator& gen, DType dtype = DType::F32) {
  Tensor t = rand_uniform(shape, -1.0, 1.0, gen, dtype);
  t.requires_grad_();
  return t;
}

// A view of an owner made as models make base parameters: in no-grad mode.
template <class F>
Tensor view_of(const Tensor& owner, F&& make) {
  NoGradGuard no_grad;
  return make(owner);
}

// Mixed shapes: a conv weight (OHWI), a linear weight, a bias, a scalar, one
// odd-sized vector.
std::vector<Tensor> mixed_params(Generator& gen, DType dtype) {
  return {leaf({16, 3, 3, 8}, gen, dtype), leaf({33, 65}, gen, dtype), leaf({65}, gen, dtype),
          leaf({}, gen, dtype), leaf({4099}, gen, dtype)};
}

const auto kAlways = [](int, size_t) { return true; };

std::vector<std::pair<std::string, MakeOptimizer>> all_optimizers() {
  return {
      {"SGD", [] { return std::make_unique<SGD>(0.1); }},
      {"SGD momentum", [] { return std::make_unique<SGD>(0.1, 0.9); }},
      {"SGD momentum dampening wd", [] { return std::make_unique<SGD>(0.05, 0.9, 0.3, 1e-2); }},
      {"SGD nesterov wd", [] { return std::make_unique<SGD>(0.1, 0.9, 0, 5e-4, true); }},
      {"SGD wd no momentum", [] { return std::make_unique<SGD>(0.1, 0, 0, 1e-2); }},
      {"AdamW", [] { return std::make_unique<AdamW>(1e-2); }},
      {"AdamW no decay", [] { return std::make_unique<AdamW>(3e-3, 0.8, 0.99, 1e-6, 0); }},
  };
}

}  // namespace

TEST_CASE("cuda parity: SGD and AdamW over several steps, float32 and float64") {
  MOTIVE_REQUIRE_CUDA();
  for (DType dtype : {DType::F32, DType::F64})
    for (DecayRule rule : {DecayRule::All, DecayRule::ExcludeNormAndBias})
      for (const auto& [name, make] : all_optimizers()) {
        CAPTURE(name);
        CAPTURE(dtype_name(dtype));
        CAPTURE(rule == DecayRule::All);
        Generator gen(1);
        // Parameter 2 skips step 1: its step count lags (AdamW's bias
        // correction, SGD's first step with dampening differ per parameter).
        run_both(make, mixed_params(gen, dtype), 4,
                 [](int s, size_t i) { return !(s == 1 && i == 2); }, rule);
      }
}

TEST_CASE("cuda: a base-view parameter updates only its sub-region on the device") {
  MOTIVE_REQUIRE_CUDA();
  for (const auto& [name, make] : all_optimizers()) {
    CAPTURE(name);
    Generator gen(2);
    const Tensor linear = leaf({12, 20}, gen);       // motivated [12, 20]
    const Tensor conv = leaf({6, 3, 3, 10}, gen);    // motivated OHWI
    const Tensor five = leaf({3, 4, 5, 6, 7}, gen);  // 5 dims that do not merge
    const std::vector<Tensor> params = {
        view_of(linear, [](const Tensor& t) { return t.slice(0, 1, 9).slice(1, 2, 15); }),
        view_of(conv, [](const Tensor& t) { return t.slice(0, 0, 4).slice(3, 0, 7); }),
        view_of(linear, [](const Tensor& t) { return t.select(1, 19); }),  // a column
        view_of(conv, [](const Tensor& t) { return t.select(0, 5).transpose(0, 2); }),
        view_of(five, [](const Tensor& t) {
          return t.slice(0, 0, 2).slice(1, 1, 4).slice(2, 0, 4).slice(3, 1, 6).slice(4, 0, 6);
        }),
    };
    for (const Tensor& p : params) REQUIRE(p.is_leaf());
    const std::vector<double> linear0 = linear.to_vector(), conv0 = conv.to_vector();
    const std::vector<double> five0 = five.to_vector();
    const std::vector<Tensor> device = run_both(make, params, 3, kAlways);

    // Owners' elements outside every view: bit-identical to their initial
    // values on the device. Mark the views' elements through index tensors.
    const auto untouched = [](const Tensor& owner, const std::vector<Tensor>& views,
                              const std::vector<double>& before, const Tensor& device_owner) {
      Tensor marks = Tensor::zeros(owner.shape(), DType::F64);
      for (const Tensor& v : views) {
        auto impl = std::make_shared<TensorImpl>(v.impl());
        impl->storage = marks.storage();
        impl->dtype = DType::F64;
        impl->requires_grad = false;
        Tensor(std::move(impl)).fill_(1.0);
      }
      const std::vector<double> mark = marks.to_vector(), after = whole(device_owner).to_vector();
      int64_t moved = 0, changed_outside = 0;
      for (size_t i = 0; i < mark.size(); ++i) {
        if (mark[i] != 0) {
          moved += after[i] != before[i];
        } else {
          changed_outside += !bit_identical({after[i]}, {before[i]});
        }
      }
      CHECK(changed_outside == 0);
      CHECK(moved > 0);
    };
    untouched(linear, {params[0], params[2]}, linear0, device[0]);
    untouched(conv, {params[1], params[3]}, conv0, device[1]);
    untouched(five, {params[4]}, five0, device[4]);
  }
}

TEST_CASE("cuda: owner and base view in one optimizer, both stepping in one step") {
  MOTIVE_REQUIRE_CUDA();
  // The view and its owner land in separate launches, in registration order,
  // as the CPU applies them.
  for (const auto& [name, make] : all_optimizers()) {
    CAPTURE(name);
    Generator gen(3);
    const Tensor owner = leaf({10, 10}, gen);
    const Tensor base = view_of(owner, [](const Tensor& t) { return t.slice(0, 0, 6).slice(1, 0, 7); });
    const Tensor other = leaf({5}, gen);
    // Steps 0 and 2: base only (a base step); step 1: all; step 3: owner only.
    run_both(make, {base, other, owner}, 4, [](int s, size_t i) {
      return s == 1 || (s % 2 == 0 && i != 2) || (s == 3 && i == 2);
    });
  }
}

TEST_CASE("cuda: multi-tensor launch over many parameters of mixed sizes and geometries") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(4);
  std::vector<Tensor> params;
  const Tensor big = leaf({300, 257}, gen);
  // Sizes around the tile (4096) and vector (4) boundaries, views at
  // unaligned offsets, and more parameters than one launch's table holds.
  const int64_t sizes[] = {1, 3, 4, 5, 17, 1000, 4095, 4096, 4097, 8193, 65537};
  for (int i = 0; i < 300; ++i) {
    switch (i % 4) {
      case 0: params.push_back(leaf({sizes[i % 11]}, gen)); break;
      case 1: params.push_back(leaf({i % 7 + 1, sizes[(i / 4) % 11] % 97 + 1}, gen)); break;
      case 2: {
        const Tensor owner = leaf({sizes[(i / 4) % 11] + 1}, gen);  // dense, misaligned
        params.push_back(view_of(owner, [](const Tensor& t) { return t.slice(0, 1, t.size(0)); }));
        break;
      }
      default: {
        const int64_t r0 = i % 290;  // disjoint 1-row blocks of one owner
        params.push_back(view_of(big, [r0, i](const Tensor& t) {
          return t.slice(0, r0, r0 + 1).slice(1, i % 5, 257 - i % 3);
        }));
      }
    }
  }
  params.push_back(leaf({0, 4}, gen));  // empty
  for (const auto& [name, make] : all_optimizers()) {
    CAPTURE(name);
    // Some parameters skip some steps; the rest must stay untouched.
    run_both(make, params, 3, [](int s, size_t i) { return (i + s) % 5 != 0; });
  }
}

TEST_CASE("cuda: one optimizer over CPU and CUDA parameters") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(5);
  Tensor a = leaf({40, 3}, gen), b = leaf({40, 3}, gen);
  const Tensor a0 = a.detach().clone();
  Tensor b_dev = b.to(Device::CUDA);
  AdamW mixed(1e-2), reference(1e-2);
  mixed.add_params({a, b_dev});
  Tensor a_ref = a0.clone().requires_grad_(), b_ref = b.detach().clone().requires_grad_();
  reference.add_params({a_ref, b_ref});
  for (int s = 0; s < 3; ++s) {
    mixed.zero_grad();
    reference.zero_grad();
    const Tensor ga = rand_uniform({40, 3}, -1.0, 1.0, gen), gb = rand_uniform({40, 3}, -1.0, 1.0, gen);
    accumulate_leaf_grad(a, ga);
    accumulate_leaf_grad(b_dev, gb.to(Device::CUDA));
    accumulate_leaf_grad(a_ref, ga);
    accumulate_leaf_grad(b_ref, gb);
    mixed.step();
    reference.step();
  }
  CHECK(bit_identical(a.to_vector(), a_ref.to_vector()));
  check_close(b_dev, b_ref, "the CUDA parameter");
  for (const auto& [name, t] : mixed.state_tensors())
    if (name.rfind("param1.exp", 0) == 0) CHECK(t.device() == Device::CUDA);
}

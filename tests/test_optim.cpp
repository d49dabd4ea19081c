// SGD and AdamW against values computed by hand from PyTorch's update rules,
// and the superset-view contract: a step touches only parameters that got a
// gradient, and a view parameter's update and state live in the matching
// sub-region of its owner's data and state, every other element bit-identical.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/optim.h"

using namespace motive;

namespace {

using Values = std::vector<double>;

const Values kP0 = {1.0, -2.0, 0.5};
const Values kG1 = {0.1, 0.2, -0.3};
const Values kG2 = {-0.2, 0.4, 0.1};
const Values kG3 = {0.3, -0.1, 0.2};

// A float64 leaf parameter.
Tensor param(const Values& v, const Shape& shape) {
  Tensor p = Tensor::from_vector(v, shape, DType::F64);
  p.requires_grad_();
  return p;
}

void set_grad(const Tensor& p, const Values& g) {
  accumulate_leaf_grad(p, Tensor::from_vector(g, p.shape(), DType::F64));
}

// One training-loop iteration: fresh gradient on p, then a step.
void step_with(Optimizer& opt, const Tensor& p, const Values& g) {
  opt.zero_grad();
  set_grad(p, g);
  opt.step();
}

void check_close(const Tensor& t, const Values& expected) {
  const Values got = t.to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i);
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-12));
  }
}

bool bit_identical(const Values& a, const Values& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

Tensor state(const Optimizer& opt, const std::string& name) {
  for (const auto& [n, t] : opt.state_tensors()) {
    if (n == name) return t;
  }
  FAIL("no state entry ", name);
  return Tensor();
}

// The block [r0, r1) x [c0, c1) of a 2-D parameter as a parameter of its own,
// made as models make base parameters: in no-grad mode, so it is a leaf.
Tensor block(const Tensor& owner, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  NoGradGuard no_grad;
  return owner.slice(0, r0, r1).slice(1, c0, c1);
}

// Row-major index of (r, c) in a [rows, cols] tensor, and whether it lies in
// the block [r0, r1) x [c0, c1).
bool in_block(size_t i, int64_t cols, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const int64_t r = static_cast<int64_t>(i) / cols, c = static_cast<int64_t>(i) % cols;
  return r >= r0 && r < r1 && c >= c0 && c < c1;
}

}  // namespace

TEST_CASE("SGD: a plain step is p - lr * grad") {
  Tensor p = param(kP0, {3});
  SGD opt(0.1);
  opt.add_param(p);
  step_with(opt, p, kG1);
  check_close(p, {0.99, -2.02, 0.53});  // 1 - 0.01, -2 - 0.02, 0.5 + 0.03
  CHECK(opt.state_tensors().size() == 1);  // no momentum buffer, only param0.step
}

TEST_CASE("SGD: momentum over three steps") {
  Tensor p = param(kP0, {3});
  SGD opt(0.1, 0.9);
  opt.add_param(p);
  // Step 1: buf = g1.
  step_with(opt, p, kG1);
  check_close(state(opt, "param0.momentum_buffer"), kG1);
  check_close(p, {0.99, -2.02, 0.53});
  // Step 2: buf = 0.9 g1 + g2 = [-0.11, 0.58, -0.17].
  step_with(opt, p, kG2);
  check_close(state(opt, "param0.momentum_buffer"), {-0.11, 0.58, -0.17});
  check_close(p, {1.001, -2.078, 0.547});
  // Step 3: buf = 0.9 buf + g3 = [0.201, 0.422, 0.047].
  step_with(opt, p, kG3);
  check_close(state(opt, "param0.momentum_buffer"), {0.201, 0.422, 0.047});
  check_close(p, {0.9809, -2.1202, 0.5423});
  CHECK(state(opt, "param0.step").item() == 3);
}

TEST_CASE("SGD: dampening applies from the second step on") {
  Tensor p = param(kP0, {3});
  SGD opt(0.1, 0.9, 0.5);
  opt.add_param(p);
  step_with(opt, p, kG1);  // buf = g1 (PyTorch's first step ignores dampening)
  check_close(p, {0.99, -2.02, 0.53});
  step_with(opt, p, kG2);  // buf = 0.9 g1 + 0.5 g2 = [-0.01, 0.38, -0.22]
  check_close(state(opt, "param0.momentum_buffer"), {-0.01, 0.38, -0.22});
  check_close(p, {0.991, -2.058, 0.552});
  step_with(opt, p, kG3);  // buf = [0.141, 0.292, -0.098]
  check_close(p, {0.9769, -2.0872, 0.5618});
}

TEST_CASE("SGD: Nesterov steps along g + momentum * buf") {
  Tensor p = param(kP0, {3});
  SGD opt(0.1, 0.9, 0, 0, true);
  opt.add_param(p);
  step_with(opt, p, kG1);  // buf = g1, d = 1.9 g1
  check_close(p, {0.981, -2.038, 0.557});
  step_with(opt, p, kG2);  // buf = [-0.11, 0.58, -0.17], d = g2 + 0.9 buf = [-0.299, 0.922, -0.053]
  check_close(p, {1.0109, -2.1302, 0.5623});
}

TEST_CASE("SGD: weight decay adds wd * p to the gradient before momentum") {
  Tensor p = param(kP0, {3});
  SGD opt(0.1, 0.9, 0, 0.01);
  opt.add_param(p);
  step_with(opt, p, kG1);  // d = g1 + 0.01 p = [0.11, 0.18, -0.295]
  check_close(state(opt, "param0.momentum_buffer"), {0.11, 0.18, -0.295});
  check_close(p, {0.989, -2.018, 0.5295});
  // d = g2 + 0.01 p = [-0.19011, 0.37982, 0.105295]; buf = 0.9 buf + d
  step_with(opt, p, kG2);
  check_close(state(opt, "param0.momentum_buffer"), {-0.09111, 0.54182, -0.160205});
  check_close(p, {0.998111, -2.072182, 0.5455205});
}

TEST_CASE("SGD: ExcludeNormAndBias keeps 1-D parameters out of weight decay") {
  // Zero gradients, so a step only applies the decay: p -= 0.5 * 0.1 p.
  const Values w0 = {1, 2, 3, 4}, b0 = {1, -1}, s0 = {2};
  for (DecayRule rule : {DecayRule::All, DecayRule::ExcludeNormAndBias}) {
    Tensor w = param(w0, {2, 2}), b = param(b0, {2}), s = param(s0, {});
    SGD opt(0.5, 0, 0, 0.1);
    opt.add_params({w, b, s}, rule);
    for (const Tensor& p : opt.params()) set_grad(p, Values(p.numel(), 0.0));
    opt.step();
    check_close(w, {0.95, 1.9, 2.85, 3.8});
    if (rule == DecayRule::All) {
      check_close(b, {0.95, -0.95});
      check_close(s, {1.9});
    } else {
      CHECK(bit_identical(b.to_vector(), b0));
      CHECK(bit_identical(s.to_vector(), s0));
    }
  }
  SUBCASE("add_param(p, false) opts out one parameter") {
    Tensor w = param(w0, {2, 2});
    SGD opt(0.5, 0, 0, 0.1);
    opt.add_param(w, false);
    set_grad(w, Values(4, 0.0));
    opt.step();
    CHECK(bit_identical(w.to_vector(), w0));
  }
}

TEST_CASE("AdamW: three steps against the formulas") {
  Tensor p = param(kP0, {3});
  AdamW opt(0.01);  // betas (0.9, 0.999), eps 1e-8, weight_decay 0.01
  opt.add_param(p);
  // Step 1: p *= 1 - 1e-4; m = 0.1 g1; v = 0.001 g1^2; step size 0.01 / 0.1;
  // sqrt(v) / sqrt(0.001) = |g1|, so p -= 0.1 * 0.1 g1 / (|g1| + 1e-8).
  step_with(opt, p, kG1);
  check_close(state(opt, "param0.exp_avg"), {0.01, 0.02, -0.03});
  check_close(state(opt, "param0.exp_avg_sq"), {1e-5, 4e-5, 9e-5});
  check_close(p, {0.989900001, -2.0097999995, 0.5099499996666667});
  step_with(opt, p, kG2);
  check_close(state(opt, "param0.exp_avg"), {-0.011, 0.058, -0.017});
  check_close(state(opt, "param0.exp_avg_sq"), {4.999e-5, 1.9996e-4, 9.991e-5});
  check_close(p, {0.9934620460387489, -2.0192508394530964, 0.5139011902072252});
  step_with(opt, p, kG3);
  check_close(state(opt, "param0.exp_avg"), {0.0201, 0.0422, 0.0047});
  check_close(state(opt, "param0.exp_avg_sq"), {1.3994001e-4, 2.0976004e-4, 1.3981009e-4});
  check_close(p, {0.9899302891900704, -2.0249349814739537, 0.5130468237770031});
  CHECK(state(opt, "param0.step").item() == 3);

  SUBCASE("without weight decay the first step moves by lr * g / (|g| + eps)") {
    Tensor q = param(kP0, {3});
    AdamW plain(0.01, 0.9, 0.999, 1e-8, 0);
    plain.add_param(q);
    step_with(plain, q, kG1);
    check_close(q, {0.990000001, -2.0099999995, 0.5099999996666666});
  }
}

TEST_CASE("a parameter that got no gradient is untouched, and so is its state") {
  for (int which = 0; which < 2; ++which) {
    Tensor a = param(kP0, {3}), b = param({4, 5, 6}, {3});
    std::unique_ptr<Optimizer> opt;
    if (which == 0) {
      opt = std::make_unique<SGD>(0.1, 0.9, 0, 0.01);
    } else {
      opt = std::make_unique<AdamW>(0.1);
    }
    opt->add_params({a, b});
    for (int s = 0; s < 2; ++s) step_with(*opt, a, kG1);
    CHECK(!bit_identical(a.to_vector(), kP0));
    CHECK(bit_identical(b.to_vector(), {4, 5, 6}));
    CHECK(state(*opt, "param1.step").item() == 0);
    CHECK(state(*opt, "param0.step").item() == 2);
    for (const auto& [name, t] : opt->state_tensors()) {
      if (name.rfind("param1.", 0) == 0 && name != "param1.step") {
        CHECK(bit_identical(t.to_vector(), Values(3, 0.0)));
      }
    }
  }
}

TEST_CASE("a view parameter updates only its sub-block; its state is the owner's sub-block") {
  // Owner [4, 5]; the view is rows [1, 3) x cols [1, 4): shape [2, 3], strides [5, 1].
  Values init(20);
  for (size_t i = 0; i < init.size(); ++i) init[i] = 0.1 * static_cast<double>(i) - 1.0;
  const Values g1 = {0.1, -0.2, 0.3, -0.4, 0.5, -0.6}, g2 = {0.2, 0.1, -0.1, 0.3, -0.3, 0.05};

  const auto make = [](int which) -> std::unique_ptr<Optimizer> {
    if (which == 0) return std::make_unique<SGD>(0.1, 0.9, 0, 0.01, true);
    return std::make_unique<AdamW>(0.05);
  };
  for (int which = 0; which < 2; ++which) {
    CAPTURE(which);
    Tensor owner = param(init, {4, 5});
    Tensor view = block(owner, 1, 3, 1, 4);
    REQUIRE(view.is_leaf());
    CHECK(view.data<double>() == owner.data<double>() + 6);
    // The same optimizer on a contiguous copy of the view: the reference.
    Tensor ref = param(view.to_vector(), {2, 3});
    auto opt = make(which), ref_opt = make(which);
    opt->add_param(view);
    ref_opt->add_param(ref);
    for (const Values& g : {g1, g2}) {
      step_with(*opt, view, g);
      step_with(*ref_opt, ref, g);
    }

    const Values after = owner.to_vector();
    const Values ref_values = ref.to_vector();
    CHECK(bit_identical(view.to_vector(), ref_values));
    for (size_t i = 0, k = 0; i < after.size(); ++i) {
      if (in_block(i, 5, 1, 3, 1, 4)) {
        CHECK(after[i] != init[i]);
        CHECK(after[i] == ref_values[k++]);
      } else {
        CHECK(bit_identical({after[i]}, {init[i]}));
      }
    }
    // No registered parameter covers the storage, so the state is flat [20];
    // seen as [4, 5], its sub-block is the reference's state, the rest zero.
    const NamedTensors ref_state = ref_opt->state_tensors();
    for (const auto& [name, ref_buffer] : ref_state) {
      if (name == "param0.step") continue;
      const Tensor buffer = state(*opt, name);
      CHECK(buffer.shape() == Shape{20});
      const Values got = buffer.to_vector();
      const Values want = ref_buffer.to_vector();
      for (size_t i = 0, k = 0; i < got.size(); ++i) {
        if (in_block(i, 5, 1, 3, 1, 4)) {
          CHECK(bit_identical({got[i]}, {want[k++]}));
        } else {
          CHECK(bit_identical({got[i]}, {0.0}));
        }
      }
    }
  }
}

TEST_CASE("owner and view in one optimizer: base steps, then motivated steps, one state") {
  // The motivated weight W [3, 3] owns the storage; the base weight is its
  // leading [2, 2] block. SGD, lr 0.1, momentum 0.9.
  Values init(9);
  for (size_t i = 0; i < 9; ++i) init[i] = static_cast<double>(i) + 1;
  Tensor owner = param(init, {3, 3});
  Tensor base = block(owner, 0, 2, 0, 2);
  SGD opt(0.1, 0.9);
  opt.add_param(owner);
  opt.add_param(base);

  // A base step: only the base got a gradient, so only the block moves.
  const Values gb = {1, 2, 3, 4};
  step_with(opt, base, gb);
  Values expect = init, expect_buf(9, 0.0);
  for (size_t i = 0, k = 0; i < 9; ++i) {
    if (in_block(i, 3, 0, 2, 0, 2)) {
      expect_buf[i] = gb[k++];
      expect[i] -= 0.1 * expect_buf[i];
    }
  }
  CHECK(bit_identical(owner.to_vector(), expect));
  // One buffer for the shared storage, named after parameter 0 and owner-shaped.
  const NamedTensors st = opt.state_tensors();
  REQUIRE(st.size() == 3);
  CHECK(st[0].first == "param0.momentum_buffer");
  CHECK(st[0].second.shape() == Shape{3, 3});
  CHECK(bit_identical(st[0].second.to_vector(), expect_buf));
  CHECK(state(opt, "param0.step").item() == 0);
  CHECK(state(opt, "param1.step").item() == 1);

  // A motivated step: every element moves; the block's momentum continues
  // from the base's (dampening 0, so buf = 0.9 buf + g everywhere).
  const Values go = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
  step_with(opt, owner, go);
  for (size_t i = 0; i < 9; ++i) {
    expect_buf[i] = 0.9 * expect_buf[i] + go[i];
    expect[i] -= 0.1 * expect_buf[i];
  }
  check_close(owner, expect);
  check_close(state(opt, "param0.momentum_buffer"), expect_buf);
  CHECK(state(opt, "param0.step").item() == 1);

  SUBCASE("AdamW keeps t per registered tensor and the moments per storage") {
    Tensor w = param(init, {3, 3});
    Tensor v = block(w, 0, 2, 0, 2);
    AdamW adam(0.1, 0.9, 0.999, 1e-8, 0);
    adam.add_param(v);  // the base first: the state is named after it
    adam.add_param(w);
    step_with(adam, v, gb);
    step_with(adam, w, go);
    CHECK(state(adam, "param0.step").item() == 1);
    CHECK(state(adam, "param1.step").item() == 1);
    const Tensor m = state(adam, "param0.exp_avg");
    CHECK(m.shape() == Shape{3, 3});  // shaped after the covering parameter
    // Element (0, 0): m = 0.9 * (0.1 * 1) + 0.1 * 0.5; element (2, 2): m = 0.1 * 0.5.
    CHECK(m.at({0, 0}) == doctest::Approx(0.14).epsilon(1e-12));
    CHECK(m.at({2, 2}) == doctest::Approx(0.05).epsilon(1e-12));
    // Element (2, 2) had only the owner's step: t = 1, so it moved by lr * sign(g).
    CHECK(w.at({2, 2}) == doctest::Approx(9 - 0.1).epsilon(1e-9));
  }
}

TEST_CASE("state_tensors and load_state round-trip; bad state is refused") {
  Tensor a = param(kP0, {3}), b = param({1, 2, 3, 4}, {2, 2});
  AdamW opt(0.01);
  opt.add_params({a, b});
  for (int s = 0; s < 2; ++s) {
    opt.zero_grad();
    set_grad(a, kG1);
    set_grad(b, {0.1, 0.2, 0.3, 0.4});
    opt.step();
  }
  NamedTensors saved;
  for (const auto& [name, t] : opt.state_tensors()) saved.emplace_back(name, t.clone());
  CHECK(saved.size() == 6);  // 2 moments x 2 storages + 2 step counts

  Tensor a2 = param(a.to_vector(), {3}), b2 = param(b.to_vector(), {2, 2});
  AdamW resumed(0.01);
  resumed.add_params({a2, b2});
  resumed.load_state(saved);
  step_with(opt, a, kG2);
  step_with(resumed, a2, kG2);
  CHECK(bit_identical(a.to_vector(), a2.to_vector()));
  CHECK(state(resumed, "param0.step").item() == 3);

  const auto without = [&](const std::string& name) {
    NamedTensors s;
    for (const auto& e : saved) {
      if (e.first != name) s.push_back(e);
    }
    return s;
  };
  CHECK_THROWS_WITH_AS(resumed.load_state(without("param1.exp_avg")),
                       doctest::Contains("'param1.exp_avg' is missing"), Error);
  NamedTensors extra = saved;
  extra.emplace_back("param7.exp_avg", Tensor::zeros({3}, DType::F64));
  CHECK_THROWS_WITH_AS(resumed.load_state(extra), doctest::Contains("unexpected entry 'param7"),
                       Error);
  NamedTensors reshaped = without("param1.exp_avg");
  reshaped.emplace_back("param1.exp_avg", Tensor::zeros({4}, DType::F64));
  CHECK_THROWS_WITH_AS(resumed.load_state(reshaped), doctest::Contains("'param1.exp_avg' has shape"),
                       Error);
  NamedTensors bad_step = without("param0.step");
  bad_step.emplace_back("param0.step", Tensor::scalar(1.5, DType::F64));
  CHECK_THROWS_WITH_AS(resumed.load_state(bad_step), doctest::Contains("not a step count"), Error);
  // A refused load changes nothing.
  CHECK(state(resumed, "param0.step").item() == 3);
}

TEST_CASE("float32 parameters, strided and transposed views") {
  Tensor owner = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4}, DType::F32);
  owner.requires_grad_();
  Tensor cols, transposed;
  {
    NoGradGuard no_grad;
    cols = owner.slice(1, 0, 4, 2);                       // columns 0 and 2: strides [4, 2]
    transposed = owner.slice(1, 1, 2).transpose(0, 1);  // column 1 as [1, 3]
  }
  SGD opt(0.5, 0.9);
  opt.add_params({cols, transposed});
  accumulate_leaf_grad(cols, Tensor::full({3, 2}, 1.0, DType::F32));
  accumulate_leaf_grad(transposed, Tensor::full({1, 3}, 2.0, DType::F32));
  opt.step();
  // Columns 0 and 2 moved by 0.5, column 1 by 1.0, column 3 not at all.
  const Values expect = {-0.5, 0, 1.5, 3, 3.5, 4, 5.5, 7, 7.5, 8, 9.5, 11};
  const Values got = owner.to_vector();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == expect[i]);
  const Tensor buf = state(opt, "param0.momentum_buffer");
  CHECK(buf.dtype() == DType::F32);
  CHECK(buf.to_vector() == Values{1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0});
}

TEST_CASE("optimizer errors name the problem") {
  CHECK_THROWS_WITH_AS(SGD(0.1, 0, 0, 0, true), doctest::Contains("Nesterov"), Error);
  CHECK_THROWS_WITH_AS(SGD(-0.1), doctest::Contains("learning rate"), Error);
  CHECK_THROWS_WITH_AS(AdamW(0.1, 1.0), doctest::Contains("betas"), Error);
  SGD opt(0.1);
  CHECK_THROWS_WITH_AS(opt.set_lr(std::nan("")), doctest::Contains("learning rate"), Error);
  Tensor p = param(kP0, {3});
  opt.add_param(p);
  CHECK_THROWS_WITH_AS(opt.add_param(p), doctest::Contains("registered again"), Error);
  CHECK_THROWS_WITH_AS(opt.add_param(Tensor::zeros({2}, DType::I32)),
                       doctest::Contains("dtype I32"), Error);
  CHECK_THROWS_WITH_AS(opt.add_param(p.unsqueeze(0).expand({2, 3})),
                       doctest::Contains("not a leaf"), Error);
  CHECK_THROWS_WITH_AS(opt.add_param(p.detach().unsqueeze(0).expand({2, 3})),
                       doctest::Contains("expanded view"), Error);
}

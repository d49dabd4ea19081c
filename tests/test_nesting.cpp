// The weights map as superset views (models/nest.h), for every registered
// family (models/registry.h) and each of its nesting examples, pairs and a
// chain of three: a new family is tested here by registering, without edits.
// For every model smaller than the largest:
//  - aliasing: each parameter is a prefix view of the largest model's tensor
//    of the same name (same storage, offset and strides; a leaf with grad),
//    running buffers shared exactly when asked;
//  - gradients: its backward writes only into the mapped regions of the
//    owners' gradient buffers;
//  - one SGD step changes exactly the mapped elements, by SGD's formula
//    (weight decay where the family applies it);
//  - a switch moves 0 bytes and allocates nothing;
//  - the chain's checkpoint holds each storage once and restores exactly;
//  - float64 gradients through every level match finite differences;
// and a run of steps across the levels equals the paper's way: standalone
// models with the mapped weights, buffers and momentum copied at each switch.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/optim.h"
#include "models/copy_switch.h"
#include "models/nest.h"
#include "models/registry.h"
#include "tests/gradcheck.h"
#include "tests/model_testing.h"
#include "tests/nesting_testing.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Case {
  std::string label;  // "resnet: resnet8x0.5 in resnet8"
  NestingExample example;
};

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const ModelFamily* family : model_families())
    for (const NestingExample& e : family->nesting_examples()) {
      std::string label = std::string(family->name()) + ":";
      for (size_t i = 0; i < e.chain.size(); ++i) label += (i ? " in " : " ") + e.chain[i];
      out.push_back({label, e});
    }
  return out;
}

NestedChain make_chain(const Case& c, uint64_t seed, BnStats bn = BnStats::Separate,
                       DType dtype = DType::F32) {
  Generator gen(seed);
  return nest(c.example.chain, c.example.shape, gen, {bn, {dtype, Device::CPU}});
}

Tensor batch(const Case& c, int64_t n, Generator& gen, DType dtype = DType::F32) {
  const ModelShape& s = c.example.shape;
  return input({n, s.image_height, s.image_width, s.in_channels}, gen, false, dtype);
}

// The optimizer every test uses: the chain's parameters, largest first, with
// the family's weight-decay rule.
std::unique_ptr<SGD> make_sgd(const std::vector<const Model*>& models, double lr = 0.1,
                              bool nesterov = false) {
  auto opt = std::make_unique<SGD>(lr, 0.9, 0, 5e-4, nesterov);
  for (const Model* model : models)
    for (const auto& [name, p] : model->named_parameters())
      opt->add_param(p, model->decays(name));
  return opt;
}

// The largest model first, then each smaller one (whose views share its state).
std::vector<const Model*> largest_first(const NestedChain& chain) {
  std::vector<const Model*> out;
  for (size_t level = chain.size(); level-- > 0;) out.push_back(&chain.model(level));
  return out;
}

}  // namespace

TEST_CASE("every family registers nesting examples: depth, width and a chain of three") {
  for (const ModelFamily* family : model_families()) {
    INFO(family->name());
    bool chain_of_three = false;
    for (const NestingExample& e : family->nesting_examples()) {
      chain_of_three = chain_of_three || e.chain.size() >= 3;
      for (const std::string& name : e.chain) CHECK(&family_of(name) == family);
    }
    CHECK(family->nesting_examples().size() >= 3);
    CHECK(chain_of_three);
    // Norm scales and shifts and biases are never decayed, in any family.
    Generator gen(0);
    const NestingExample e = family->nesting_examples().front();
    const auto model = build_model(*resolve_model(e.chain.front(), e.shape), gen);
    for (const auto& [name, p] : model->named_parameters())
      if (p.dim() <= 1) CHECK_MESSAGE(!model->decays(name), name);
  }
}

TEST_CASE("prefix views: aliasing, mapped gradients, both BN statistics modes") {
  for (const Case& c : all_cases()) {
    for (BnStats bn : {BnStats::Separate, BnStats::Shared}) {
      INFO(c.label, ", statistics ", bn_stats_name(bn));
      const NestedChain chain = make_chain(c, 0, bn);
      REQUIRE(chain.size() == c.example.chain.size());
      Generator gen(1);
      const Tensor x = batch(c, 2, gen);
      for (size_t level = 0; level + 1 < chain.size(); ++level) {
        INFO("level ", level);
        const Model& model = chain.model(level);
        CHECK(model.name() == c.example.chain[level]);
        check_aliasing(chain, level);
        check_mapped_gradients(chain, level, x);
      }
      check_mapped_gradients(chain, chain.size() - 1, x);
    }
  }
}

TEST_CASE("one step of a smaller model changes exactly its mapped elements, by SGD's rule") {
  for (const Case& c : all_cases()) {
    for (size_t level = 0; level + 1 < c.example.chain.size(); ++level) {
      INFO(c.label, ", level ", level);
      const NestedChain chain = make_chain(c, 2);
      const double lr = 0.1, wd = 5e-4;  // make_sgd's
      const auto opt = make_sgd(largest_first(chain), lr);
      const Model& model = chain.model(level);
      const NamedTensors owners = chain.largest().named_tensors();
      const std::vector<Tensor> before = snapshot(owners);
      const std::vector<Tensor> buffers_before = snapshot(model.named_buffers());
      Generator gen(4);
      train_step(model, *opt, batch(c, 4, gen));
      for (size_t i = 0; i < owners.size(); ++i) {
        const auto& [name, owner] = owners[i];
        INFO(name);
        const Shape region = mapped_region(model, name, owner);
        CHECK(bit_identical(outside(owner, region), outside(before[i], region)));
        const NamedTensors params = model.named_parameters();
        const bool is_parameter = std::any_of(params.begin(), params.end(),
                                              [&](const auto& p) { return p.first == name; });
        if (!is_parameter) continue;
        // The mapped region took SGD's first step: p - lr * (g + wd * p), wd where it applies.
        const Tensor view = find_tensor(params, name);
        const Tensor p0 = prefix_view(before[i], region);
        const double decay = model.decays(name) ? wd : 0.0;
        CHECK(max_rel_error(view, p0 - (view.grad() + p0 * decay) * lr) < 1e-6);
      }
      // Separate statistics: the smaller model's own buffers moved.
      const NamedTensors buffers = model.named_buffers();
      for (size_t i = 0; i < buffers.size(); ++i)
        CHECK(max_rel_error(buffers[i].second, buffers_before[i]) > 0);
    }
  }
}

TEST_CASE("steps across the levels equal the paper's way: standalone models, copies at switches") {
  for (const Case& c : all_cases()) {
    INFO(c.label);
    const NestedChain chain = make_chain(c, 4, BnStats::Shared);
    const size_t n = chain.size();
    // The paper's way: one standalone model per level, from the same values.
    Generator gen(5);
    std::vector<std::unique_ptr<Model>> alone;
    for (size_t level = 0; level < n; ++level) {
      alone.push_back(build_model(chain.model(level).config(), gen));
      alone.back()->load_state(chain.model(level).named_tensors());
    }
    const auto nested_opt = make_sgd(largest_first(chain), 0.05, true);
    std::vector<std::unique_ptr<SGD>> alone_opt;
    for (size_t level = 0; level < n; ++level)
      alone_opt.push_back(make_sgd({alone[level].get()}, 0.05, true));
    // After a standalone model trains, its weights, buffers and momentum go to every other.
    auto paper_switch = [&](size_t from) {
      for (size_t to = 0; to < n; ++to) {
        if (to == from) continue;
        copy_mapped_tensors(alone[from]->named_tensors(), alone[to]->named_tensors());
        copy_mapped_tensors(
            named_optimizer_state(*alone_opt[from], alone[from]->named_parameters()),
            named_optimizer_state(*alone_opt[to], alone[to]->named_parameters()));
      }
    };
    auto compare = [&](size_t level) {
      const NamedTensors a = chain.model(level).named_tensors(), b = alone[level]->named_tensors();
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].first, " at level ", level);
        CHECK(max_rel_error(a[i].second, b[i].second) < 1e-6);
      }
    };
    // base, largest, base, then every middle level once.
    std::vector<size_t> order = {0, n - 1, 0};
    for (size_t level = 1; level + 1 < n; ++level) order.push_back(level);
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t level = order[k];
      const Tensor x = batch(c, 4, gen);
      train_step(chain.model(level), *nested_opt, x, 10 + k);
      train_step(*alone[level], *alone_opt[level], x, 10 + k);
      compare(level);
      paper_switch(level);
    }
    for (size_t level = 0; level < n; ++level) compare(level);
  }
}

TEST_CASE("a switch moves 0 bytes and allocates nothing") {
  for (const Case& c : all_cases()) {
    INFO(c.label);
    const NestedChain chain = make_chain(c, 5);
    const auto opt = make_sgd(largest_first(chain));
    Generator gen(6);
    const Tensor x = batch(c, 2, gen);
    for (size_t level = 0; level < chain.size(); ++level) {
      const MemoryStats before = memory_stats();
      const Model& next = chain.model(level);  // the switch
      const MemoryStats after = memory_stats();
      CHECK(after.bytes_copied == before.bytes_copied);
      CHECK(after.allocations == before.allocations);
      train_step(next, *opt, x);
    }
  }
}

TEST_CASE("chain checkpoints: each storage once, restored exactly, strictly checked") {
  for (const Case& c : all_cases()) {
    INFO(c.label);
    const NestedChain chain = make_chain(c, 9);
    const NamedTensors state = chain.named_tensors();
    size_t expected = chain.largest().named_tensors().size();
    for (size_t level = 0; level + 1 < chain.size(); ++level)
      expected += chain.model(level).named_buffers().size();
    CHECK(state.size() == expected);
    CHECK(state.front().first.rfind("motivated.", 0) == 0);
    const std::vector<Tensor> saved = snapshot(state);
    NamedTensors saved_named;
    for (size_t i = 0; i < state.size(); ++i) saved_named.emplace_back(state[i].first, saved[i]);
    const auto opt = make_sgd(largest_first(chain));
    Generator gen(7);
    train_step(chain.base(), *opt, batch(c, 2, gen));
    train_step(chain.largest(), *opt, batch(c, 2, gen));
    chain.load_state(saved_named);
    for (size_t i = 0; i < state.size(); ++i) CHECK(max_rel_error(state[i].second, saved[i]) == 0);
    CHECK_THROWS_WITH_AS(chain.load_state({}), doctest::Contains(c.example.chain.back().c_str()), Error);
  }
}

TEST_CASE("gradient check (float64) through every level of each chain") {
  for (const Case& c : all_cases()) {
    INFO(c.label);
    const NestedChain chain = make_chain(c, 10, BnStats::Separate, DType::F64);
    Generator gen(11);
    const Tensor x = batch(c, 2, gen, DType::F64);
    for (size_t level = 0; level < chain.size(); ++level) {
      INFO("level ", level);
      const Model& model = chain.model(level);
      // The smallest parameter of each third (input side, body, head): every
      // part of every level, in few finite differences.
      const NamedTensors params = model.named_parameters();
      std::vector<Tensor> checked;
      for (size_t third = 0; third < 3; ++third) {
        const size_t begin = third * params.size() / 3, end = (third + 1) * params.size() / 3;
        Tensor smallest = params[begin].second;
        for (size_t i = begin; i < end; ++i)
          if (params[i].second.numel() < smallest.numel()) smallest = params[i].second;
        checked.push_back(smallest);
      }
      test::check_gradients(
          [&](const std::vector<Tensor>&) { return model.forward(x, ForwardContext{true}); },
          checked);
    }
  }
}

#include "engine/autograd.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <unordered_set>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"

namespace motive {
namespace {

thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_next_sequence{0};

// Every node reachable from `root`, later-created first: since a node is made
// after the nodes of its inputs, this is a reverse topological order.
std::vector<std::shared_ptr<Node>> reverse_topological(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> nodes;
  std::unordered_set<const Node*> seen{root.get()};
  std::vector<std::shared_ptr<Node>> stack{root};
  while (!stack.empty()) {
    auto node = std::move(stack.back());
    stack.pop_back();
    for (const Edge& in : node->inputs) {
      if (in.producer != nullptr && seen.insert(in.producer.get()).second)
        stack.push_back(in.producer);
    }
    nodes.push_back(std::move(node));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& a, const auto& b) { return a->sequence > b->sequence; });
  return nodes;
}

}  // namespace

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const Tensor* t) { return t->defined() && t->requires_grad(); });
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const Tensor& t) { return t.defined() && t.requires_grad(); });
}

Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    Edge& e = node->inputs.emplace_back();
    if (!in.defined() || !in.requires_grad()) continue;
    e.shape = in.shape();
    e.dtype = in.dtype();
    if (in.is_leaf())
      e.leaf = in;
    else
      e.producer = in.impl().grad_fn;
  }
  node->backward = std::move(backward);
  node->sequence = g_next_sequence++;
  out.impl().requires_grad = true;
  out.impl().grad_fn = std::move(node);
  return out;
}

void accumulate_leaf_grad(const Tensor& leaf, const Tensor& grad, const Tensor& region) {
  const Tensor& target = region.defined() ? region : leaf;
  MOTIVE_CHECK(grad.shape() == target.shape(), "backward: gradient of shape ",
               shape_str(grad.shape()), " for a leaf region of shape ", shape_str(target.shape()));
  // Always add: the grad storage is shared by every view of the data storage,
  // and zero_grad() is what clears a region (as in PyTorch).
  Tensor dst = target.grad_buffer();
  dispatch_float_bf16(leaf.dtype(), "backward", [&](auto t) {
    using T = decltype(t);
    const Tensor g = grad.dtype() == leaf.dtype() ? grad : grad.to(leaf.dtype());
    MOTIVE_KERNEL(dst.device(), binary<T>, cpu::BinaryOp::Add, dst.dim(), dst.shape().data(),
                  dst.data<T>(), dst.strides().data(), dst.data<T>(), dst.strides().data(),
                  g.data<T>(), g.strides().data());
  });
  leaf.impl().grad_touched = true;
}

void Tensor::backward(const Tensor& seed) const { backward_with(*this, LeafFinal(), seed); }

namespace {

// backward_with's bookkeeping: how many edges of the nodes still to run point
// at each leaf. Empty (and free) without a hook.
class FinalLeaves {
 public:
  FinalLeaves(const std::vector<std::shared_ptr<Node>>& nodes, const LeafFinal& on_final)
      : on_final_(on_final) {
    if (!on_final_) return;
    for (const auto& node : nodes)
      for (const Edge& in : node->inputs)
        if (in.leaf.defined()) ++edges_[&in.leaf.impl()];
  }

  // `node` ran or was skipped: its leaf edges come off the counts. Call before
  // its inputs are released.
  void node_done(const Node& node) {
    if (!on_final_) return;
    for (const Edge& in : node.inputs)
      if (in.leaf.defined() && --edges_.at(&in.leaf.impl()) == 0) finals_.push_back(in.leaf);
  }

  // Reports the leaves node_done() found final, in that order.
  void report() {
    for (const Tensor& leaf : finals_) on_final_(leaf);
    finals_.clear();
  }

 private:
  const LeafFinal& on_final_;
  std::unordered_map<const TensorImpl*, int64_t> edges_;
  std::vector<Tensor> finals_;
};

}  // namespace

void backward_with(const Tensor& root, const LeafFinal& on_final, const Tensor& seed) {
  MOTIVE_CHECK(root.requires_grad(), "backward: tensor does not require grad (no op on its path "
                                     "had an input with requires_grad)");
  Tensor grad = seed;
  if (!grad.defined()) {
    MOTIVE_CHECK(root.numel() == 1, "backward: a seed gradient is needed for a non-scalar tensor "
                                    "of shape ", shape_str(root.shape()));
    grad = Tensor::full(root.shape(), 1.0, root.dtype(), root.device());
  }
  MOTIVE_CHECK(grad.shape() == root.shape(), "backward: seed of shape ", shape_str(grad.shape()),
               " for a tensor of shape ", shape_str(root.shape()));
  if (grad.dtype() != root.dtype()) grad = grad.to(root.dtype());  // a gradient has its tensor's dtype
  NoGradGuard no_grad;  // backward closures compute plain tensors
  if (root.is_leaf()) {
    accumulate_leaf_grad(root, grad);
    if (on_final) on_final(root);
    return;
  }
  const std::vector<std::shared_ptr<Node>> nodes = reverse_topological(root.impl().grad_fn);
  FinalLeaves final_leaves(nodes, on_final);
  // A node is done when it ran or no gradient reached it: its leaf edges come
  // off the counts, and its saved tensors are released (activations die as
  // soon as they are used).
  const auto release = [&final_leaves](Node& node) {
    final_leaves.node_done(node);
    node.backward = nullptr;
    node.inputs.clear();
    final_leaves.report();
  };
  std::unordered_map<const Node*, Tensor> pending{{root.impl().grad_fn.get(), grad}};
  for (const auto& node : nodes) {
    MOTIVE_CHECK(node->backward != nullptr, node->name,
                 " backward: the graph was already released by an earlier backward()");
    auto it = pending.find(node.get());
    if (it == pending.end()) {  // reachable, but every path to it had no gradient
      release(*node);
      continue;
    }
    Tensor g_out = std::move(it->second);
    pending.erase(it);
    const std::vector<Tensor> g_in = node->backward(g_out);
    MOTIVE_CHECK(g_in.size() == node->inputs.size(), node->name, " backward: returned ",
                 g_in.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < g_in.size(); ++i) {
      const Edge& in = node->inputs[i];
      if (!in.defined() || !g_in[i].defined()) continue;
      MOTIVE_CHECK(g_in[i].shape() == in.shape, node->name, " backward: gradient ", i,
                   " has shape ", shape_str(g_in[i].shape()), ", input has ",
                   shape_str(in.shape));
      // A gradient has its input's dtype (as in PyTorch): a float32 gradient
      // reaching a bf16 activation is rounded to bf16, and the reverse.
      const Tensor g = g_in[i].dtype() == in.dtype ? g_in[i] : g_in[i].to(in.dtype);
      if (in.leaf.defined()) {
        accumulate_leaf_grad(in.leaf, g);
      } else {
        Tensor& acc = pending[in.producer.get()];
        acc = acc.defined() ? add(acc, g) : g;
      }
    }
    release(*node);
  }
}

}  // namespace motive

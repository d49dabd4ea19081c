// Define-by-run tape. Every differentiable op calls record(): when grad mode is
// on and an input requires grad, the output gets a Node holding one Edge per
// input and a backward closure. backward() walks the nodes in reverse creation order
// (a valid reverse topological order: a node is always created after the nodes
// of its inputs), accumulates gradients, and releases each node as it goes.
//
// Closures must not capture the op's own output tensor (that would be a
// reference cycle: output -> node -> closure -> output); capture out.detach().
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace motive {

// Maps the gradient of the output to one gradient per input (an undefined
// Tensor where an input needs none). Gradients may have any strides.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

struct Node;

// Where one input's gradient goes. A Node refers to the *producer* of a
// non-leaf input, never to the input tensor itself: an activation then lives
// only as long as the user's handles and the closures that saved it (as in
// PyTorch), not until backward. Leaves (parameters) are held, since their grad
// storage receives the gradient.
struct Edge {
  std::shared_ptr<Node> producer;  // the input's grad_fn, for a non-leaf input
  Tensor leaf;                     // the input itself, for a leaf
  Shape shape;                     // the input's shape, to check its gradient
  DType dtype = DType::F32;        // the input's dtype: its gradient is converted to it
  bool defined() const { return producer != nullptr || leaf.defined(); }
};

struct Node {
  std::string name;          // op name, for errors ("conv2d backward: ...")
  std::vector<Edge> inputs;  // undefined where the input does not require grad
  BackwardFn backward;
  uint64_t sequence = 0;       // creation order
};

bool grad_enabled();

// RAII: disables recording in its scope (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and some input requires grad: then the op must
// call record(); otherwise it may skip saving anything for backward.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a Node to `out` if needs_grad(inputs); returns out either way.
Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

// Called by backward_with() with each leaf whose gradient is final: no node
// still to run adds to it.
using LeafFinal = std::function<void(const Tensor& leaf)>;

// Tensor::backward(seed) that also reports every leaf on the tape to
// `on_final` as soon as its gradient is final, while the tape goes on (a
// data-parallel step starts a gradient bucket's allreduce then,
// dist/gradient_sync.h). A leaf is a tensor (its TensorImpl, as
// accumulate_leaf_grad marks it), not a storage: leaves that are views of one
// buffer (a nested model's parameters) are counted apart. Before the tape
// runs, each leaf counts the edges of the reachable nodes that point at it;
// each node, as it runs or is skipped (no gradient reached it), takes its
// edges off, and a leaf whose count reaches 0 is reported after that node's
// accumulations: once, when its earliest-created consumer (the last of them
// to run) is done, in the order the tape finishes the leaves. Every leaf with
// an edge on the tape is reported, also those no gradient reached (has_grad()
// false); leaves that need no gradient have no edge and are not; a root that
// is itself a leaf is reported at once. An empty `on_final` counts nothing:
// Tensor::backward(seed) is backward_with(*this, {}, seed).
void backward_with(const Tensor& root, const LeafFinal& on_final, const Tensor& seed = Tensor());

// Adds `grad` into the grad-storage region with `region`'s geometry (by default
// the leaf's own) and marks the leaf as having received a gradient.
void accumulate_leaf_grad(const Tensor& leaf, const Tensor& grad, const Tensor& region = Tensor());

}  // namespace motive

#include "models/copy_switch.h"

#include <algorithm>
#include <map>

#include "engine/autograd.h"

namespace motive {

void copy_mapped_tensors(const NamedTensors& from, const NamedTensors& to) {
  const std::map<std::string, Tensor> targets(to.begin(), to.end());
  NoGradGuard no_grad;
  for (const auto& [name, src] : from) {
    const auto it = targets.find(name);
    if (it == targets.end()) continue;
    MOTIVE_CHECK(src.dim() == it->second.dim(), "copy_mapped_tensors: '", name, "' has rank ",
                 src.dim(), " and ", it->second.dim());
    Shape common = src.shape();
    for (size_t d = 0; d < common.size(); ++d)
      common[d] = std::min(common[d], it->second.size(static_cast<int64_t>(d)));
    prefix_view(it->second, common).copy_(prefix_view(src, common));
  }
}

NamedTensors named_optimizer_state(const Optimizer& opt, const NamedTensors& params) {
  MOTIVE_CHECK(opt.params().size() == params.size(), "named_optimizer_state: the optimizer holds ",
               opt.params().size(), " parameters, ", params.size(), " names given");
  NamedTensors out;
  for (const auto& [name, t] : opt.state_tensors()) {
    // "param<i>.<what>": i indexes the registration order.
    const size_t dot = name.find('.');
    MOTIVE_CHECK(name.compare(0, 5, "param") == 0 && dot != std::string::npos && dot > 5,
                 "named_optimizer_state: unexpected state entry '", name, "'");
    const size_t i = std::stoul(name.substr(5, dot - 5));
    MOTIVE_CHECK(i < params.size(), "named_optimizer_state: no parameter ", i, " for '", name, "'");
    out.emplace_back(params[i].first + name.substr(dot), t);
  }
  return out;
}

}  // namespace motive

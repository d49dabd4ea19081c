// Transfer learning: a run that starts from a model `trainer export` wrote
// (motive format, either role) instead of its seed's initialisation
// (`--init-from FILE`), and the linear probe (`--freeze backbone`).
//
// The mapping rule. An export holds one model's tensors (its parameters and its
// own running statistics) and names its architecture (metadata "arch"). The
// file goes into ONE level of the run's chain:
//   1. the largest level whose model is the file's architecture, or else
//   2. the level with the most tensors matching the file's by name and shape
//      (ties: the larger level).
// At that level every tensor whose name and shape match a tensor of the file
// is copied from it. A smaller level's parameters are prefix views of the
// largest model's (models/nest.h), so the copy lands in the owner's leading
// block: a pre-trained base loaded into the base of a pair sets that block of
// the motivated model, whose other elements keep their fresh initialisation;
// a pre-trained motivated model loaded into the motivated level sets every
// weight of both. Running statistics are each model's own (--bn-stats
// separate), so only the chosen level's are loaded. The classifier
// (Model::is_classifier) keeps the fresh initialisation of the run's seed when
// its shape differs (another class count) or with --reinit-head.
//
// The run's seed still draws every tensor first (the same draws as without
// --init-from), so a run from a file is as reproducible as any other. The file
// is read when the run starts, and again only by a resume from before the first
// checkpoint (which must find the same tensors: the crc32 in config.json); a
// checkpoint holds everything after.
#pragma once
#include <string>

#include "models/nest.h"
#include "trainer/run_config.h"

namespace motive {

// Loads config.init_from into `chain` by the rule above and says what it did.
// Throws motive::Error, one line starting with "--init-from 'FILE'", for a file
// that cannot be read, is not a motive model export (a run checkpoint, a
// PyTorch export), holds a model of another family or for another number of
// input channels, or has no tensor that fits.
InitReport load_init_from(const RunConfig& config, const NestedChain& chain);

// One line for the run's banner: what was loaded into which level, what was
// not (counts and names).
std::string init_from_line(const RunConfig& config);

// --freeze backbone: every parameter but the classifier's stops requiring a
// gradient, at every level, so the backward pass ends at the classifier and
// the optimizer (make_optimizer) holds the classifier alone.
void freeze_backbone(const NestedChain& chain);

}  // namespace motive

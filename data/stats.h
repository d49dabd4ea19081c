// Per-channel normalisation statistics computed from the data, for data sets
// that come without published ones (image folders).
#pragma once
#include <cstdint>
#include <string>

#include "data/augment.h"
#include "data/dataset.h"

namespace motive {

// Mean and (population) std of pixel / 255 per channel, over every item or
// over `max_items` evenly spaced ones (decoding a whole large folder only to
// normalise it would cost as much as an epoch). Items are read on `threads`
// threads (0: hardware threads); the sums are exact integers, so the result
// does not depend on the thread count.
Normalize channel_stats(const Dataset& data, int64_t max_items = -1, int threads = 0);

// channel_stats computed once: read from `cache_file` when it holds the
// statistics of the same sample (same data-set size and max_items), else
// computed and written there. Writing is best effort: an unwritable cache only
// costs the computation again next time.
Normalize cached_channel_stats(const Dataset& data, const std::string& cache_file,
                               int64_t max_items = -1, int threads = 0);

}  // namespace motive

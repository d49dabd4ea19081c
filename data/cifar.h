// CIFAR-10 and CIFAR-100, binary versions (https://www.cs.toronto.edu/~kriz/cifar.html).
//
// A file is a sequence of fixed-size records with no header:
//   CIFAR-10:  <1 byte label><3072 bytes pixels>             (label in [0, 10))
//   CIFAR-100: <1 byte coarse label><1 byte fine label><3072> (coarse in [0, 20), fine in [0, 100))
// The 3072 pixel bytes are three 32x32 planes, red then green then blue, each
// row-major; they are converted to NHWC on load. Splits: CIFAR-10's train is
// data_batch_1.bin ... data_batch_5.bin (10,000 records each) and its test is
// test_batch.bin; CIFAR-100's are train.bin (50,000) and test.bin (10,000).
// Class names come from batches.meta.txt (CIFAR-10), fine_label_names.txt and
// coarse_label_names.txt (CIFAR-100), one name a line; a missing meta file
// leaves class_names empty (training does not need them).
//
// Every failure throws motive::Error naming the file and the byte offset (or
// the record) at fault.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace motive {

enum class CifarKind { Cifar10, Cifar100Fine, Cifar100Coarse };

// Per-channel mean and std of each training set (pixels scaled to [0, 1]).
inline constexpr float kCifar10Mean[3] = {0.4914f, 0.4822f, 0.4465f};
inline constexpr float kCifar10Std[3] = {0.2470f, 0.2435f, 0.2616f};
inline constexpr float kCifar100Mean[3] = {0.5071f, 0.4865f, 0.4409f};
inline constexpr float kCifar100Std[3] = {0.2673f, 0.2564f, 0.2762f};

// Appends the records of one file's bytes to `ds` (32x32x3, labels of `kind`),
// at most `max_records` of them (-1: all). Every record's labels are checked,
// also those past `max_records`: a bad one means a corrupt file. `name` is the
// file the errors report. This is also the entry point for fuzzing.
void parse_cifar(const uint8_t* data, size_t size, const std::string& name, CifarKind kind,
                 ImageDataset& ds, int64_t max_records = -1);

// One split from the directory that holds the .bin files (cifar-10-batches-bin/
// or cifar-100-binary/ of the official archives). `limit` keeps the first
// `limit` images (-1: all); files past the limit are not read.
ImageDataset load_cifar(const std::string& dir, CifarKind kind, bool train, int64_t limit = -1);

// The files a split is made of, in order (what load_cifar reads).
std::vector<std::string> cifar_files(CifarKind kind, bool train);

}  // namespace motive

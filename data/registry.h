// Data sets by name, as the command line gives them: fashion-mnist, mnist,
// cifar10, cifar100 (fine labels), cifar100-coarse, folder:PATH. Resolves the
// directory, opens both splits, and picks each split's standard augmentation
// and normalisation. An absent data set is one error line saying what was
// looked for where, and what to do about it.
//
// Where each is looked for, under the data root R (DataSpec::root, else
// default_data_root()):
//   fashion-mnist   R/fashion-mnist, R; without a root: /usr/share/datasets/fashion-mnist
//                   (Debian's dataset-fashion-mnist), then R/fashion-mnist
//   mnist           R/mnist, R                    (IDX files, plain or .gz)
//   cifar10         R/cifar-10-batches-bin, R     (data_batch_{1..5}.bin, test_batch.bin)
//   cifar100        R/cifar-100-binary, R         (train.bin, test.bin)
//   folder:PATH     PATH, or R/PATH for a relative PATH: either PATH/train/<class>/<image>
//                   with PATH/test/ (or PATH/val/) beside it, or class folders
//                   PATH/<class>/<image> with split lists PATH/train.txt and
//                   PATH/test.txt (or val.txt); see data/image_folder.h.
// tools/fetch_data.sh downloads and arranges them under R (it needs internet).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"

namespace motive {

struct DataSpec {
  std::string name;          // see above
  std::string root;          // "" = default_data_root()
  int64_t limit_train = -1;  // keep the first N images of a split (-1: all)
  int64_t limit_test = -1;
  // Keep only these classes, relabelled 0..k-1 in this order (empty: all);
  // the limits then count the images kept. parse_class_list reads the
  // command line's spelling.
  std::vector<int32_t> classes;
  bool augment = true;       // false: the train split is transformed like the test split
  int64_t image_size = 224;  // image folders: the side images are cropped/resized to
  bool skip_bad = false;     // image folders: skip (and count) undecodable images
  bool full_check = false;   // image folders: decode every image at open
  std::string cache_dir;     // normalisation statistics of image folders; "" = default_cache_dir()
};

struct DataSplits {
  std::string name;
  std::string description;  // one line for logs: where from, sizes, shape, classes
  std::shared_ptr<const Dataset> train, test;
  Augment train_augment, test_augment;
};

DataSplits open_data(const DataSpec& spec);

// $MOTIVE_DATA_ROOT, else ~/.local/share/motive/datasets (where
// tools/fetch_data.sh puts what it downloads).
std::string default_data_root();
// $XDG_CACHE_HOME/motive, else ~/.cache/motive.
std::string default_cache_dir();
// The names open_data knows ("folder:PATH" stands for any folder).
const std::vector<std::string>& data_set_names();

// "0-4", "5-9", "0,2,4", "1-3,7" -> the class indices in that order; "" -> none
// (all classes). Throws motive::Error naming the text for anything else.
std::vector<int32_t> parse_class_list(const std::string& text);

}  // namespace motive

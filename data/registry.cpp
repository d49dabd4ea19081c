#include "data/registry.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>

#include "data/cifar.h"
#include "data/file.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/stats.h"
#include "engine/error.h"

namespace motive {

namespace {

namespace fs = std::filesystem;

// Images sampled for an image folder's normalisation statistics: enough for
// three decimals, few enough to take seconds, not an epoch.
constexpr int64_t kStatsSample = 1000;

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

bool is_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

// The first of `dirs` that holds the data set (per `holds`); else the error
// that says what was looked for where, and what to do.
std::string find_dir(const std::string& name, const std::vector<std::string>& dirs,
                     const std::string& looked_for,
                     const std::function<bool(const std::string&)>& holds,
                     const std::string& what_to_do) {
  std::string tried;
  for (const std::string& dir : dirs) {
    if (holds(dir)) return dir;
    tried += (tried.empty() ? "" : ", ") + dir;
  }
  fail("data set '", name, "' not found: looked for ", looked_for, " in ", tried, "; ", what_to_do);
}

std::string fetch_hint(const std::string& what, const std::string& root) {
  return "run tools/fetch_data.sh " + what + " (it needs internet; it fills " + root +
         ") or give the data root that holds it (--data-root DIR)";
}

// The standard recipe of a data set with one image size: a random crop of the
// zero-padded image (and a flip where mirror images keep their class) for
// training, the image as is for testing.
void fixed_size_recipe(DataSplits& out, Normalize normalize, int64_t padding, bool flip) {
  out.test_augment.normalize = std::move(normalize);
  out.train_augment = out.test_augment;
  out.train_augment.crop = Crop::RandomPad;
  out.train_augment.padding = padding;
  out.train_augment.flip = flip;
}

Normalize per_channel(const float (&mean)[3], const float (&std)[3]) {
  return {{mean[0], mean[1], mean[2]}, {std[0], std[1], std[2]}};
}

// FNV-1a: a stable name for a folder's statistics cache file.
std::string path_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  std::ostringstream os;
  os << std::hex << h;
  return os.str();
}

// An empty split would fail later, in the loader or the normalisation
// statistics, with a message that does not say why: name the split and the
// limit (the trainer's --limit-train / --limit-test) or the source.
void check_not_empty(const DataSpec& spec, const DataSplits& out) {
  for (const bool train : {true, false}) {
    const Dataset* split = (train ? out.train : out.test).get();
    if (split && split->size() > 0) continue;
    const char* name = train ? "train" : "test";
    const int64_t limit = train ? spec.limit_train : spec.limit_test;
    if (limit == 0)
      fail("data set '", spec.name, "': the ", name, " split is empty (limit_", name,
           " = 0; a limit keeps the first N >= 1 images, -1 keeps all)");
    fail("data set '", spec.name, "': the ", name, " split holds no images (", out.description,
         ")");
  }
}

void open_idx(DataSplits& out, const DataSpec& spec, const std::string& root, bool fashion) {
  const std::vector<std::string> dirs =
      fashion && spec.root.empty()
          ? std::vector<std::string>{kFashionMnistDir, root + "/fashion-mnist"}
          : std::vector<std::string>{root + (fashion ? "/fashion-mnist" : "/mnist"), root};
  const std::string dir = find_dir(
      spec.name, dirs, "train-images-idx3-ubyte (or .gz)",
      [](const std::string& d) { return !find_mnist_images(d, true).empty(); },
      fashion ? "run tools/setup.sh (it installs Debian's dataset-fashion-mnist) or give the data "
                "root that holds it (--data-root DIR)"
              : fetch_hint("mnist", root));
  const auto load = fashion ? load_fashion_mnist : load_mnist;
  out.train = in_memory(load(dir, true, spec.limit_train));
  out.test = in_memory(load(dir, false, spec.limit_test));
  out.description = spec.name + " from " + dir;
  // Digits change meaning when mirrored (2 vs 5 ...); clothes do not.
  fixed_size_recipe(
      out,
      fashion ? Normalize{{kFashionMean}, {kFashionStd}} : Normalize{{kMnistMean}, {kMnistStd}}, 2,
      fashion);
}

void open_cifar(DataSplits& out, const DataSpec& spec, const std::string& root, CifarKind kind) {
  const bool ten = kind == CifarKind::Cifar10;
  const std::string first = cifar_files(kind, true).front();
  const std::string dir = find_dir(
      spec.name, {root + (ten ? "/cifar-10-batches-bin" : "/cifar-100-binary"), root}, first,
      [&](const std::string& d) { return !first_existing_file({d + "/" + first}).empty(); },
      fetch_hint(ten ? "cifar10" : "cifar100", root));
  out.train = in_memory(load_cifar(dir, kind, true, spec.limit_train));
  out.test = in_memory(load_cifar(dir, kind, false, spec.limit_test));
  out.description = spec.name + " from " + dir;
  fixed_size_recipe(
      out, ten ? per_channel(kCifar10Mean, kCifar10Std) : per_channel(kCifar100Mean, kCifar100Std),
      4, true);
}

void open_folder(DataSplits& out, const DataSpec& spec, const std::string& root,
                 const std::string& path) {
  const std::vector<std::string> dirs = fs::path(path).is_absolute()
                                            ? std::vector<std::string>{path}
                                            : std::vector<std::string>{path, root + "/" + path};
  const std::string dir =
      find_dir(spec.name, dirs, "a directory", is_dir,
               "give an existing image folder (tools/fetch_data.sh flowers102 or pets arranges "
               "those under " +
                   root + ")");

  ImageFolderOptions train_options;
  train_options.skip_bad = spec.skip_bad;
  train_options.full_check = spec.full_check;
  train_options.limit = spec.limit_train;
  std::string train_root = dir, test_root = dir;
  if (is_dir(dir + "/train")) {
    train_root = dir + "/train";
    test_root = is_dir(dir + "/test") ? dir + "/test" : dir + "/val";
    if (!is_dir(test_root))
      fail("data set '", spec.name, "': ", dir, "/train exists, but neither ", dir, "/test nor ",
           dir, "/val does (the test split)");
  } else {
    train_options.list_file = first_existing_file({dir + "/train.txt"});
    if (train_options.list_file.empty())
      fail("data set '", spec.name, "': ", dir, " has neither a train/ folder (with test/ or val/ ",
           "beside it) nor split lists train.txt and test.txt beside its class folders");
  }
  const auto train = open_image_folder(train_root, train_options);

  ImageFolderOptions test_options = train_options;
  test_options.classes = train->class_names();  // labelled like the train split
  test_options.limit = spec.limit_test;
  if (!train_options.list_file.empty()) {
    test_options.list_file = first_existing_file({dir + "/test.txt", dir + "/val.txt"});
    if (test_options.list_file.empty())
      fail("data set '", spec.name, "': ", dir, " has train.txt but neither test.txt nor val.txt");
  }
  const auto test = open_image_folder(test_root, test_options);

  out.train = train;
  out.test = test;
  const size_t skipped = train->skipped().size() + test->skipped().size();
  out.description =
      spec.name + " from " + dir + " (decoded per image, " + std::to_string(spec.image_size) + "x" +
      std::to_string(spec.image_size) +
      (skipped ? ", " + std::to_string(skipped) + " bad images/classes skipped" : "") + ")";
  check_not_empty(spec, out);  // before the statistics read the train split

  std::error_code ec;
  const std::string cache_dir = spec.cache_dir.empty() ? default_cache_dir() : spec.cache_dir;
  const std::string cache =
      cache_dir + "/stats-" + path_hash(fs::weakly_canonical(train_root, ec).string()) + ".txt";
  out.test_augment.normalize = cached_channel_stats(*train, cache, kStatsSample);
  out.test_augment.crop = Crop::Center;
  out.test_augment.size = spec.image_size;
  out.train_augment = out.test_augment;
  out.train_augment.crop = Crop::RandomResized;
  out.train_augment.flip = true;
}

}  // namespace

std::string default_data_root() {
  return env_or("MOTIVE_DATA_ROOT", env_or("HOME", ".") + "/.local/share/motive/datasets");
}

std::string default_cache_dir() {
  return env_or("XDG_CACHE_HOME", env_or("HOME", ".") + "/.cache") + "/motive";
}

const std::vector<std::string>& data_set_names() {
  static const std::vector<std::string> names = {"fashion-mnist", "mnist",           "cifar10",
                                                 "cifar100",      "cifar100-coarse", "folder:PATH"};
  return names;
}

std::vector<int32_t> parse_class_list(const std::string& text) {
  std::vector<int32_t> out;
  if (text.empty()) return out;
  const auto bad = [&] {
    fail("classes '", text, "': expected class indices and ranges, e.g. 0-4, 5-9 or 0,2,7");
  };
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    const size_t dash = part.find('-');
    int32_t first = 0, last = 0;
    const auto number = [&](const std::string& s, int32_t& v) {
      const char* end = s.data() + s.size();
      const auto [ptr, ec] = std::from_chars(s.data(), end, v);
      if (s.empty() || ec != std::errc() || ptr != end || v < 0) bad();
    };
    number(part.substr(0, dash), first);
    last = first;
    if (dash != std::string::npos) number(part.substr(dash + 1), last);
    if (last < first || last - first > 1'000'000) bad();
    for (int32_t c = first; c <= last; ++c) out.push_back(c);
  }
  if (text.back() == ',') bad();
  return out;
}

DataSplits open_data(const DataSpec& spec_in) {
  // With a class list the readers read whole splits; the limits then count
  // the images the list keeps.
  DataSpec spec = spec_in;
  if (!spec.classes.empty()) spec.limit_train = spec.limit_test = -1;
  const std::string root = spec.root.empty() ? default_data_root() : spec.root;
  DataSplits out;
  out.name = spec.name;
  const std::string folder = "folder:";
  if (spec.name == "fashion-mnist" || spec.name == "mnist") {
    open_idx(out, spec, root, spec.name == "fashion-mnist");
  } else if (spec.name == "cifar10") {
    open_cifar(out, spec, root, CifarKind::Cifar10);
  } else if (spec.name == "cifar100") {
    open_cifar(out, spec, root, CifarKind::Cifar100Fine);
  } else if (spec.name == "cifar100-coarse") {
    open_cifar(out, spec, root, CifarKind::Cifar100Coarse);
  } else if (spec.name.compare(0, folder.size(), folder) == 0 && spec.name.size() > folder.size()) {
    open_folder(out, spec, root, spec.name.substr(folder.size()));
  } else {
    std::string known;
    for (const std::string& n : data_set_names()) known += (known.empty() ? "" : ", ") + n;
    fail("unknown data set '", spec.name, "': known are ", known);
  }
  if (!spec.classes.empty()) {
    const int32_t all = out.train->num_classes();
    out.train = class_subset(out.train, spec.classes, spec_in.limit_train);
    out.test = class_subset(out.test, spec.classes, spec_in.limit_test);
    out.description += " (" + std::to_string(spec.classes.size()) + " of its " +
                       std::to_string(all) + " classes, relabelled 0-" +
                       std::to_string(spec.classes.size() - 1) + ")";
  }
  check_not_empty(spec_in, out);
  if (!spec.augment) out.train_augment = out.test_augment;

  const Dataset& tr = *out.train;
  std::ostringstream d;
  d << ": " << tr.size() << " train / " << out.test->size() << " test images, ";
  if (tr.fixed_height() > 0)
    d << tr.fixed_height() << "x" << tr.fixed_width() << "x" << tr.channels() << ", ";
  d << tr.num_classes() << " classes";
  out.description += d.str();
  return out;
}

}  // namespace motive

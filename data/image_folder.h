// Image folders: ROOT/<class>/<image>.{jpg,jpeg,png}, the layout of
// ImageNet-style trees and of Oxford Flowers-102 / Oxford-IIIT Pets as
// tools/fetch_data.sh arranges them. Images are decoded on demand with
// stb_image (always to RGB: grey images are expanded, alpha is dropped), so
// sets larger than memory work; the loader's Transform then crops and resizes
// them to one resolution.
//
// Labels are class indices: the class folders' names sorted (or the given
// class list, so a validation tree is labelled like its training tree). Files
// with other extensions and names starting with '.' are ignored.
//
// An image whose header declares more than kMaxImagePixels pixels is refused
// before it is decoded (at open, and again when it is read), as a bad image:
// a few kilobytes of PNG can declare 12000x12000 pixels and cost gigabytes.
//
// Items are ordered round-robin over the classes (every class's first image,
// then every class's second, ...), each class's images sorted by name, so the
// `limit` prefix used for quick runs holds every class.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace motive {

// 2^26 pixels (8192x8192, 192 MiB decoded as RGB): far above any photo data
// set (ImageNet's largest images are a few thousand pixels a side), far below
// what hurts a training machine.
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

struct ImageFolderOptions {
  // Class names in label order; empty: the sorted sub-directories of the root.
  std::vector<std::string> classes;
  // A split list: only the images it names (paths relative to the root, one a
  // line, "<class>/<file>"; blank lines and lines starting with '#' are
  // ignored). Empty: every image under the class folders.
  std::string list_file;
  // Skip and count undecodable (or too large) images and empty classes instead
  // of failing (an empty class keeps its label, so labels do not shift).
  // `trainer train` has no flag for it; DataSpec::skip_bad sets it.
  bool skip_bad = false;
  // At open, decode every image completely instead of reading its header only:
  // catches corrupt image data up front, at the cost of one decode per image.
  bool full_check = false;
  int threads = 0;     // for the check; 0: hardware threads
  int64_t limit = -1;  // keep the first `limit` good images (-1: all)
};

class ImageFolderDataset final : public Dataset {
 public:
  struct Item {
    std::string path;
    int32_t label;
  };
  ImageFolderDataset(std::vector<std::string> classes, std::vector<Item> items,
                     std::vector<std::string> skipped);

  int64_t size() const override { return static_cast<int64_t>(items_.size()); }
  int32_t num_classes() const override { return static_cast<int32_t>(classes_.size()); }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int32_t label(int64_t i) const override { return items_[static_cast<size_t>(i)].label; }
  int64_t channels() const override { return 3; }
  int64_t fixed_height() const override { return 0; }
  int64_t fixed_width() const override { return 0; }
  // Decodes the file; a failure throws motive::Error naming it.
  ImageView image(int64_t i, std::vector<uint8_t>& scratch) const override;

  const std::string& path(int64_t i) const { return items_[static_cast<size_t>(i)].path; }
  // One line per image or class skipped at open (skip_bad), saying why.
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::vector<std::string> classes_;
  std::vector<Item> items_;
  std::vector<std::string> skipped_;
};

std::shared_ptr<const ImageFolderDataset> open_image_folder(const std::string& root,
                                                            const ImageFolderOptions& options = {});

}  // namespace motive

#include "data/dataset.h"

#include "engine/error.h"

namespace motive {

namespace {

class InMemoryDataset final : public Dataset {
 public:
  explicit InMemoryDataset(ImageDataset ds) : ds_(std::move(ds)) {}
  int64_t size() const override { return ds_.count; }
  int32_t num_classes() const override { return ds_.num_classes; }
  const std::vector<std::string>& class_names() const override { return ds_.class_names; }
  int32_t label(int64_t i) const override { return ds_.labels[static_cast<size_t>(i)]; }
  int64_t channels() const override { return ds_.channels; }
  int64_t fixed_height() const override { return ds_.height; }
  int64_t fixed_width() const override { return ds_.width; }
  ImageView image(int64_t i, std::vector<uint8_t>&) const override {
    const int64_t per_item = ds_.height * ds_.width * ds_.channels;
    return {ds_.pixels.data() + i * per_item, ds_.height, ds_.width, ds_.channels};
  }

 private:
  ImageDataset ds_;
};

class ClassSubset final : public Dataset {
 public:
  ClassSubset(std::shared_ptr<const Dataset> source, const std::vector<int32_t>& classes,
              int64_t limit)
      : source_(std::move(source)), relabel_(static_cast<size_t>(source_->num_classes()), -1) {
    const std::vector<std::string>& names = source_->class_names();
    for (size_t j = 0; j < classes.size(); ++j) {
      const int32_t c = classes[j];
      MOTIVE_CHECK(c >= 0 && c < source_->num_classes(), "classes: class ", c,
                   " is not in the data set (its classes are 0-", source_->num_classes() - 1,
                   ")");
      MOTIVE_CHECK(relabel_[static_cast<size_t>(c)] < 0, "classes: class ", c, " is listed twice");
      relabel_[static_cast<size_t>(c)] = static_cast<int32_t>(j);
      if (!names.empty()) names_.push_back(names[static_cast<size_t>(c)]);
    }
    for (int64_t i = 0; i < source_->size() && (limit < 0 || size() < limit); ++i)
      if (relabel_[static_cast<size_t>(source_->label(i))] >= 0) items_.push_back(i);
    num_classes_ = static_cast<int32_t>(classes.size());
  }
  int64_t size() const override { return static_cast<int64_t>(items_.size()); }
  int32_t num_classes() const override { return num_classes_; }
  const std::vector<std::string>& class_names() const override { return names_; }
  int32_t label(int64_t i) const override {
    return relabel_[static_cast<size_t>(source_->label(item(i)))];
  }
  int64_t channels() const override { return source_->channels(); }
  int64_t fixed_height() const override { return source_->fixed_height(); }
  int64_t fixed_width() const override { return source_->fixed_width(); }
  ImageView image(int64_t i, std::vector<uint8_t>& scratch) const override {
    return source_->image(item(i), scratch);
  }

 private:
  int64_t item(int64_t i) const { return items_[static_cast<size_t>(i)]; }
  std::shared_ptr<const Dataset> source_;
  std::vector<int32_t> relabel_;  // source label -> subset label, -1 when left out
  std::vector<int64_t> items_;    // the source indices kept
  std::vector<std::string> names_;
  int32_t num_classes_ = 0;
};

}  // namespace

std::shared_ptr<const Dataset> in_memory(ImageDataset ds) {
  return std::make_shared<InMemoryDataset>(std::move(ds));
}

std::shared_ptr<const Dataset> class_subset(std::shared_ptr<const Dataset> source,
                                            const std::vector<int32_t>& classes, int64_t limit) {
  MOTIVE_CHECK(!classes.empty(), "classes: the list is empty");
  return std::make_shared<ClassSubset>(std::move(source), classes, limit);
}

}  // namespace motive

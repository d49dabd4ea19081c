#include "data/dataset.h"

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

}  // namespace

std::shared_ptr<const Dataset> in_memory(ImageDataset ds) {
  return std::make_shared<InMemoryDataset>(std::move(ds));
}

}  // namespace motive

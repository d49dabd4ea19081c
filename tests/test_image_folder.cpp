// Image folders: class trees of PNG and JPEG files written here with
// stb_image_write, decoding (exact for PNG, grey/alpha to RGB), class order,
// round-robin item order and limits, split lists, every bad-input error and
// its counted skip, the registry's two layouts, and the loader cropping the
// varying-size images to one batch shape.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "data/loader.h"
#include "data/registry.h"
#include "tests/file_fixtures.h"

using namespace motive;
using namespace motive::test;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> pixels(int w, int h, int c, int salt) {
  std::vector<uint8_t> p(static_cast<size_t>(w * h * c));
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 13 + salt * 29);
  return p;
}

void write_png(const std::string& path, int w, int h, int c, int salt) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, c, pixels(w, h, c, salt).data(), w * c));
}

void write_jpg(const std::string& path, int w, int h, int salt) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_jpg(path.c_str(), w, h, 3, pixels(w, h, 3, salt).data(), 90));
}

// root/cat: 3 images, root/dog: 2, root/emu: 1, of different sizes and kinds.
void write_tree(const std::string& root) {
  write_png(root + "/cat/a.png", 6, 5, 3, 1);
  write_jpg(root + "/cat/b.jpg", 20, 12, 2);
  write_png(root + "/cat/c.PNG", 7, 7, 1, 3);  // grey, upper-case extension
  write_jpg(root + "/dog/x.jpeg", 9, 16, 4);
  write_png(root + "/dog/y.png", 4, 4, 4, 5);  // with alpha
  write_png(root + "/emu/z.png", 3, 8, 3, 6);
  write_text(root + "/dog/notes.txt", "not an image");
  write_png(root + "/dog/.hidden.png", 2, 2, 3, 7);
  write_png(root + "/.cache/q.png", 2, 2, 3, 8);
}

void put_be(std::vector<uint8_t>& bytes, size_t at, uint32_t v, int width) {
  for (int k = 0; k < width; ++k)
    bytes[at + static_cast<size_t>(k)] = static_cast<uint8_t>(v >> (8 * (width - 1 - k)));
}

// A small valid PNG whose header (IHDR, CRC fixed) declares w x h pixels: a
// few hundred bytes that a decoder would expand to w * h * 3 bytes.
void write_png_declaring(const std::string& path, uint32_t w, uint32_t h) {
  write_png(path, 4, 4, 3, 1);
  std::vector<uint8_t> bytes = read_raw(path);
  REQUIRE(std::string(bytes.begin() + 12, bytes.begin() + 16) == "IHDR");
  put_be(bytes, 16, w, 4);
  put_be(bytes, 20, h, 4);
  put_be(bytes, 29, static_cast<uint32_t>(crc32(0, bytes.data() + 12, 17)), 4);  // type + data
  write_bytes(path, bytes);
}

// The same for a baseline JPEG: its SOF0 segment declares w x h.
void write_jpg_declaring(const std::string& path, uint16_t w, uint16_t h) {
  write_jpg(path, 8, 8, 1);
  std::vector<uint8_t> bytes = read_raw(path);
  size_t at = 2;  // after SOI; segments are FF <marker> <16-bit length> ...
  while (at + 4 < bytes.size() && !(bytes[at] == 0xFF && bytes[at + 1] == 0xC0))
    at += 2 + (size_t(bytes[at + 2]) << 8 | bytes[at + 3]);
  REQUIRE(at + 9 < bytes.size());
  put_be(bytes, at + 5, h, 2);
  put_be(bytes, at + 7, w, 2);
  write_bytes(path, bytes);
}

std::vector<uint8_t> decode(const ImageFolderDataset& ds, int64_t i) {
  std::vector<uint8_t> scratch;
  const ImageView v = ds.image(i, scratch);
  return {v.pixels, v.pixels + v.height * v.width * v.channels};
}

}  // namespace

TEST_CASE("a class tree: sorted classes, round-robin order, exact PNG pixels, RGB always") {
  TempDir dir;
  write_tree(dir.str());
  const auto ds = open_image_folder(dir.str());
  CHECK(ds->class_names() == std::vector<std::string>{"cat", "dog", "emu"});
  CHECK(ds->num_classes() == 3);
  CHECK(ds->channels() == 3);
  CHECK(ds->fixed_height() == 0);
  REQUIRE(ds->size() == 6);
  // Every class's first image, then every class's second, ...
  const std::vector<std::string> order = {"cat/a.png", "dog/x.jpeg", "emu/z.png",
                                          "cat/b.jpg", "dog/y.png",  "cat/c.PNG"};
  const std::vector<int32_t> labels = {0, 1, 2, 0, 1, 0};
  for (int64_t i = 0; i < 6; ++i) {
    CHECK(ds->path(i) == dir / order[static_cast<size_t>(i)]);
    CHECK(ds->label(i) == labels[static_cast<size_t>(i)]);
  }
  CHECK(ds->skipped().empty());

  std::vector<uint8_t> scratch;
  const ImageView a = ds->image(0, scratch);
  CHECK(a.height == 5);
  CHECK(a.width == 6);
  CHECK(a.channels == 3);
  CHECK(decode(*ds, 0) == pixels(6, 5, 3, 1));
  // Grey is expanded to three equal channels; alpha is dropped.
  const std::vector<uint8_t> grey = decode(*ds, 5), grey_src = pixels(7, 7, 1, 3);
  REQUIRE(grey.size() == 7 * 7 * 3);
  for (size_t p = 0; p < grey_src.size(); ++p)
    for (size_t c = 0; c < 3; ++c) CHECK(grey[p * 3 + c] == grey_src[p]);
  const std::vector<uint8_t> rgba = decode(*ds, 4), rgba_src = pixels(4, 4, 4, 5);
  for (size_t p = 0; p < 16; ++p)
    for (size_t c = 0; c < 3; ++c) CHECK(rgba[p * 3 + c] == rgba_src[p * 4 + c]);
  // JPEG is lossy: only its geometry is exact.
  CHECK(decode(*ds, 3).size() == 20 * 12 * 3);

  SUBCASE("a limit keeps a prefix that holds every class") {
    ImageFolderOptions o;
    o.limit = 3;
    const auto head = open_image_folder(dir.str(), o);
    REQUIRE(head->size() == 3);
    CHECK(head->label(0) == 0);
    CHECK(head->label(1) == 1);
    CHECK(head->label(2) == 2);
  }
  SUBCASE("an explicit class list labels by it (a validation tree labelled like training)") {
    ImageFolderOptions o;
    o.classes = {"emu", "cat", "dog"};
    const auto relabelled = open_image_folder(dir.str(), o);
    CHECK(relabelled->path(0) == dir / "emu/z.png");
    CHECK(relabelled->label(0) == 0);
    CHECK(relabelled->label(1) == 1);
  }
}

TEST_CASE("bad images and empty classes: an error naming them, or a counted skip") {
  TempDir dir;
  write_tree(dir.str());
  write_bytes(dir / "dog/garbage.jpg", {0x12, 0x34, 0x56, 0x78, 0x9a});
  check_mentions(error_of([&] { open_image_folder(dir.str()); }),
                 {"image '" + dir / "dog/garbage.jpg" + "' cannot be decoded",
                  "DataSpec::skip_bad"});
  // The trainer has no such flag: the hint must not name one.
  CHECK(error_of([&] { open_image_folder(dir.str()); }).find("--") == std::string::npos);
  fs::create_directories(dir / "elk");
  ImageFolderOptions skip;
  skip.skip_bad = true;
  const auto ds = open_image_folder(dir.str(), skip);
  CHECK(ds->size() == 6);
  REQUIRE(ds->skipped().size() == 2);
  check_mentions(ds->skipped()[0], {"class folder '" + dir / "elk" + "' holds no"});
  check_mentions(ds->skipped()[1], {dir / "dog/garbage.jpg"});
  CHECK(ds->class_names() ==
        std::vector<std::string>{"cat", "dog", "elk", "emu"});  // elk keeps label 2
  CHECK(ds->label(1) == 3);                                     // emu, after the skipped dog image

  fs::remove(dir / "dog/garbage.jpg");
  check_mentions(error_of([&] { open_image_folder(dir.str()); }),
                 {"class folder '" + dir / "elk" + "' holds no .jpg/.jpeg/.png image"});
}

TEST_CASE("a truncated PNG passes the header check, fails the full check and fails in the loader") {
  TempDir dir;
  write_png(dir / "a/ok.png", 8, 8, 3, 1);
  write_png(dir / "a/cut.png", 64, 64, 3, 2);
  std::vector<uint8_t> bytes = read_raw(dir / "a/cut.png");
  bytes.resize(bytes.size() / 2);
  write_bytes(dir / "a/cut.png", bytes);

  const auto lazy = open_image_folder(dir.str());
  CHECK(lazy->size() == 2);
  Augment crop;
  crop.crop = Crop::Center;
  crop.size = 4;
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 2;
  o.shuffle = false;
  Loader loader(lazy, crop, o);
  check_mentions(error_of([&] { loader.next(); }),
                 {"image '" + dir / "a/cut.png" + "' (item 0)", "cannot be decoded"});

  ImageFolderOptions full;
  full.full_check = true;
  check_mentions(error_of([&] { open_image_folder(dir.str(), full); }), {dir / "a/cut.png"});
  full.skip_bad = true;
  CHECK(open_image_folder(dir.str(), full)->size() == 1);
}

TEST_CASE("images declaring more than kMaxImagePixels are refused before decoding") {
  TempDir dir;
  write_tree(dir.str());
  write_png_declaring(dir / "dog/huge.png", 12000, 12000);
  CHECK(fs::file_size(dir / "dog/huge.png") < 3000);
  const std::string limit = std::to_string(kMaxImagePixels);
  check_mentions(error_of([&] { open_image_folder(dir.str()); }),
                 {"image '" + dir / "dog/huge.png" + "'", "declares 12000x12000 pixels", limit});
  ImageFolderOptions skip;
  skip.skip_bad = true;
  const auto ds = open_image_folder(dir.str(), skip);
  CHECK(ds->size() == 6);
  REQUIRE(ds->skipped().size() == 1);
  check_mentions(ds->skipped()[0], {dir / "dog/huge.png", "12000x12000"});

  fs::remove(dir / "dog/huge.png");
  write_jpg_declaring(dir / "emu/wide.jpg", 65000, 4000);  // 2.6e8 pixels
  check_mentions(error_of([&] { open_image_folder(dir.str()); }),
                 {"image '" + dir / "emu/wide.jpg" + "'", "declares 65000x4000 pixels", limit});
  fs::remove(dir / "emu/wide.jpg");

  // At the limit is fine (header only: nothing here decodes 8192x8192).
  write_png_declaring(dir / "cat/edge.png", 8192, 8192);
  CHECK(open_image_folder(dir.str())->size() == 7);

  // A file replaced after the folder was opened is checked again before decoding.
  fs::remove(dir / "cat/edge.png");
  const auto opened = open_image_folder(dir.str());
  write_png_declaring(dir / "cat/a.png", 12000, 12000);
  std::vector<uint8_t> scratch;
  check_mentions(error_of([&] { opened->image(0, scratch); }),
                 {"image '" + dir / "cat/a.png" + "' (item 0)", "declares 12000x12000 pixels"});
}

TEST_CASE("split lists select images; bad lines are errors naming the list and the line") {
  TempDir dir;
  write_tree(dir.str());
  write_text(dir / "train.txt", "# comment\ncat/a.png\n\ndog/x.jpeg\r\nemu/z.png\ncat/b.jpg\n");
  ImageFolderOptions o;
  o.list_file = dir / "train.txt";
  const auto ds = open_image_folder(dir.str(), o);
  REQUIRE(ds->size() == 4);
  CHECK(ds->path(0) == dir / "cat/a.png");
  CHECK(ds->path(3) == dir / "cat/b.jpg");

  write_text(dir / "bad.txt", "cat/a.png\ndog/nope.png\n");
  o.list_file = dir / "bad.txt";
  check_mentions(
      error_of([&] { open_image_folder(dir.str(), o); }),
      {"split list '" + dir / "bad.txt" + "' line 2", dir / "dog/nope.png", "does not exist"});
  write_text(dir / "bad.txt", "loose.png\n");
  check_mentions(error_of([&] { open_image_folder(dir.str(), o); }),
                 {"line 1", "'loose.png' is not inside a class folder"});
  write_text(dir / "bad.txt", "cat/a.png\n");
  check_mentions(error_of([&] { open_image_folder(dir.str(), o); }),
                 {"class folder '" + dir / "dog" + "'", "named by '" + dir / "bad.txt" + "'"});
}

TEST_CASE("missing or empty roots say so") {
  TempDir dir;
  check_mentions(error_of([&] { open_image_folder(dir / "nope"); }),
                 {dir / "nope", "not a directory"});
  check_mentions(error_of([&] { open_image_folder(dir.str()); }), {"no class folders"});
}

TEST_CASE("registry folder:PATH: train/ + val/ trees or split lists, cropped by the loader") {
  TempDir dir, cache;
  DataSpec spec;
  spec.image_size = 8;
  spec.cache_dir = cache.str();

  SUBCASE("train/ and val/ trees; val is labelled like train") {
    write_tree(dir / "train");
    write_png(dir / "val/dog/v.png", 10, 6, 3, 9);
    write_png(dir / "val/cat/w.png", 10, 6, 3, 9);
    write_png(dir / "val/emu/u.png", 10, 6, 3, 9);
    spec.name = "folder:" + dir.str();
    const DataSplits data = open_data(spec);
    CHECK(data.train->size() == 6);
    CHECK(data.test->size() == 3);
    CHECK(data.test->label(1) == 1);  // dog, by the train split's class order
    CHECK(data.train_augment.crop == Crop::RandomResized);
    CHECK(data.train_augment.flip);
    CHECK(data.test_augment.crop == Crop::Center);
    CHECK(data.test_augment.size == 8);
    REQUIRE(data.test_augment.normalize.mean.size() == 3);
    CHECK(fs::directory_iterator(cache.str()) != fs::directory_iterator());  // cached

    LoaderOptions o;
    o.batch_size = 4;
    o.workers = 2;
    Loader train(data.train, data.train_augment, o);
    const auto batch = train.next();
    REQUIRE(batch);
    CHECK(batch->images.shape() == Shape{4, 8, 8, 3});
    Loader test(data.test, data.test_augment, o);
    CHECK(test.next()->images.shape() == Shape{3, 8, 8, 3});

    fs::remove_all(dir / "val");
    check_mentions(error_of([&] { open_data(spec); }), {dir / "train exists", "/test nor", "/val"});
  }
  SUBCASE("class folders with train.txt and test.txt, a relative path under the data root") {
    write_tree(dir / "pets");
    write_text(dir / "pets/train.txt", "cat/a.png\ndog/x.jpeg\nemu/z.png\n");
    write_text(dir / "pets/test.txt", "cat/b.jpg\ndog/y.png\nemu/z.png\n");
    spec.name = "folder:pets";
    spec.root = dir.str();
    spec.limit_test = 2;
    const DataSplits data = open_data(spec);
    CHECK(data.train->size() == 3);
    CHECK(data.test->size() == 2);
    check_mentions(data.description, {dir / "pets", "3 train / 2 test", "3 classes"});

    fs::remove(dir / "pets/test.txt");
    check_mentions(error_of([&] { open_data(spec); }),
                   {"train.txt but neither test.txt nor val.txt"});
    fs::remove(dir / "pets/train.txt");
    check_mentions(error_of([&] { open_data(spec); }), {"neither a train/ folder", "split lists"});
  }
  SUBCASE("a limit of 0 is named before the normalisation statistics read the split") {
    write_tree(dir / "train");
    write_tree(dir / "test");
    spec.name = "folder:" + dir.str();
    spec.limit_train = 0;
    check_mentions(error_of([&] { open_data(spec); }),
                   {"the train split is empty (limit_train = 0"});
  }
  SUBCASE("an absent folder says where it looked") {
    spec.name = "folder:flowers102";
    spec.root = dir.str();
    check_mentions(error_of([&] { open_data(spec); }),
                   {"data set 'folder:flowers102' not found", "flowers102, " + dir / "flowers102",
                    "tools/fetch_data.sh"});
  }
}

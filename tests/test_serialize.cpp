// safetensors: round trips (views, dtypes, metadata), the byte layout checked
// by hand, the atomic write, one corrupt buffer per validation rule, and the
// per-tensor crc32s: every flipped data byte and every hand-edited checksum
// map is refused with a motive::Error naming the tensor.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "engine/serialize.h"

namespace fs = std::filesystem;
using namespace motive;

namespace {

// A fresh directory under the system temp dir, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("motive_serialize_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void put_u64_le(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A file image: 8-byte length of `header`, the header, then `data_bytes` bytes.
std::vector<uint8_t> image(const std::string& header, size_t data_bytes = 0) {
  std::vector<uint8_t> out;
  put_u64_le(out, header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0xAB);
  return out;
}

// The message of the motive::Error parse_safetensors throws ("" if none).
std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "corrupt.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Asserts that parsing fails with a message naming the file and containing `what`.
void check_rejects(const std::vector<uint8_t>& bytes, const std::string& what) {
  const std::string msg = parse_error(bytes);
  INFO("message: ", msg);
  CHECK(msg.find("corrupt.safetensors") != std::string::npos);
  CHECK(msg.find(what) != std::string::npos);
}

void check_same(const Tensor& loaded, const Tensor& original) {
  CHECK(loaded.dtype() == original.dtype());
  CHECK(loaded.shape() == original.shape());
  CHECK(loaded.is_contiguous());
  CHECK(loaded.to_vector() == original.to_vector());
}

std::vector<double> iota(size_t n, double start = 0.0) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + 0.5 * static_cast<double>(i);
  return v;
}

}  // namespace

TEST_CASE("safetensors round trip: views, dtypes, scalars, empty tensors, order") {
  TempDir dir;
  const Tensor base = Tensor::from_vector(iota(12, -3.0), {3, 4});
  const Tensor wide = Tensor::from_vector(iota(30), {5, 6}, DType::F64);
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"plain", Tensor::from_vector(iota(6), {2, 3})},
      {"transposed", base.transpose(0, 1)},                  // strides (1, 4)
      {"strided_slice", wide.slice(1, 1, 6, 2).narrow(0, 1, 3)},  // offset + step
      {"expanded", Tensor::from_vector({1, 2, 3}, {1, 3}).expand({4, 3})},  // stride 0
      {"f64", Tensor::from_vector({1e-300, -2.5, 3.141592653589793}, {3}, DType::F64)},
      {"labels", Tensor::from_vector({0, 7, -1, 2147483647}, {2, 2}, DType::I32)},
      {"scalar", Tensor::scalar(42.0)},
      {"empty", Tensor::zeros({0, 3})},
  };
  REQUIRE_FALSE(tensors[1].second.is_contiguous());
  REQUIRE_FALSE(tensors[2].second.is_contiguous());

  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, tensors);
  const SafetensorsFile loaded = load_safetensors(path);

  CHECK(loaded.metadata.empty());
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO("tensor ", tensors[i].first);
    CHECK(loaded.tensors[i].first == tensors[i].first);  // saved order = file order
    check_same(loaded.tensors[i].second, tensors[i].second);
    CHECK(loaded.tensors[i].second.storage() != tensors[i].second.storage());
  }
}

TEST_CASE("safetensors metadata round trip") {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"step", "1200"}, {"note", "quote \" backslash \\ unicode \u00e9"},
      {"", "empty key"}};
  save_safetensors(path, {{"w", Tensor::ones({2})}}, metadata);
  const SafetensorsFile loaded = load_safetensors(path);
  CHECK(loaded.metadata == metadata);
  REQUIRE(loaded.tensors.size() == 1);
  check_same(loaded.tensors[0].second, Tensor::ones({2}));
}

TEST_CASE("safetensors byte layout matches the format") {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  save_safetensors(path, {{"a", Tensor::from_vector({1.0, -2.0}, {2})},
                          {"b", Tensor::from_vector({5}, {1, 1}, DType::I32)}},
                   {{"k", "v"}});
  const std::vector<uint8_t> bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  CHECK(n % 8 == 0);  // the data section starts 8-byte aligned
  REQUIRE(bytes.size() == 8 + n + 2 * 4 + 4);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  CHECK(header.front() == '{');
  const size_t close = header.find_last_of('}');
  CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);  // space padding

  const auto j = nlohmann::json::parse(header);
  CHECK(j["__metadata__"]["k"] == "v");
  CHECK(j["__metadata__"].size() == 2);  // k and the checksums
  CHECK(j["a"]["dtype"] == "F32");
  CHECK(j["a"]["shape"] == nlohmann::json::array({2}));
  CHECK(j["a"]["data_offsets"] == nlohmann::json::array({0, 8}));
  CHECK(j["b"]["dtype"] == "I32");
  CHECK(j["b"]["shape"] == nlohmann::json::array({1, 1}));
  CHECK(j["b"]["data_offsets"] == nlohmann::json::array({8, 12}));

  const uint8_t* data = bytes.data() + 8 + n;
  const float a[2] = {1.0f, -2.0f};
  const int32_t b = 5;
  CHECK(std::memcmp(data, a, sizeof a) == 0);  // host and format are both little-endian
  CHECK(std::memcmp(data + 8, &b, sizeof b) == 0);
  const uint8_t b_le[4] = {5, 0, 0, 0};
  CHECK(std::memcmp(data + 8, b_le, 4) == 0);
}

TEST_CASE("safetensors write is atomic and names the file on failure") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"w", Tensor::ones({3})}});
  save_safetensors(path, {{"w", Tensor::full({4}, 2.0)}});  // replaces the old file
  CHECK_FALSE(fs::exists(path + ".tmp"));
  const SafetensorsFile loaded = load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 1);
  check_same(loaded.tensors[0].second, Tensor::full({4}, 2.0));
  for (const auto& entry : fs::directory_iterator(dir.path))
    CHECK(entry.path().filename() == "ckpt.safetensors");

  const std::string missing_dir = dir.file("no/such/dir/x.safetensors");
  CHECK_THROWS_WITH_AS(save_safetensors(missing_dir, {{"w", Tensor::ones({1})}}),
                       doctest::Contains(missing_dir.c_str()), Error);
  CHECK_FALSE(fs::exists(dir.path / "no"));
}

TEST_CASE("safetensors save rejects what it cannot write faithfully") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const Tensor t = Tensor::ones({1});
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"w", t}, {"w", t}}),
                       doctest::Contains("appears twice"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"__metadata__", t}}),
                       doctest::Contains("reserved"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"w", Tensor()}}),
                       doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"w", t}}, {{"k", "\xff"}}),
                       doctest::Contains("UTF-8"), Error);
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("safetensors load: missing and truncated files") {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  CHECK_THROWS_WITH_AS(load_safetensors(missing), doctest::Contains(missing.c_str()), Error);

  const std::string path = dir.file("cut.safetensors");
  save_safetensors(path, {{"w", Tensor::ones({16})}});
  std::vector<uint8_t> bytes = read_bytes(path);
  bytes.resize(bytes.size() - 4);
  write_bytes(path, bytes);
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("run past the data section"),
                       Error);

  write_bytes(path, {1, 2, 3});
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("shorter than"), Error);
}

TEST_CASE("safetensors parse accepts valid edge cases") {
  // Zero-byte tensors sharing an offset, a scalar, padding, unknown entry keys, -0.
  const std::string header =
      R"({"e1":{"dtype":"F32","shape":[0],"data_offsets":[-0,0]},)"
      R"("e2":{"dtype":"I32","shape":[4,0],"data_offsets":[0,0]},)"
      R"("s":{"dtype":"F64","shape":[],"data_offsets":[0,8],"extra":1}})"
      "    ";
  std::vector<uint8_t> bytes = image(header);
  const double v = 0.25;
  bytes.resize(bytes.size() + 8);
  std::memcpy(bytes.data() + bytes.size() - 8, &v, 8);
  const SafetensorsFile f = parse_safetensors(bytes.data(), bytes.size(), "ok");
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[2].first == "s");
  CHECK(f.tensors[2].second.dim() == 0);
  CHECK(f.tensors[2].second.item() == 0.25);
  CHECK(f.tensors[1].second.shape() == Shape{4, 0});

  const std::vector<uint8_t> only_header = image("{}");
  CHECK(parse_safetensors(only_header.data(), only_header.size(), "ok").tensors.empty());
}

TEST_CASE("safetensors fuzz seeds are valid files") {
  // __FILE__ is absolute under CMake; the seeds live beside this test.
  const fs::path seeds = fs::path(__FILE__).parent_path() / "fuzz" / "corpus" / "safetensors";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(seeds)) {
    INFO("seed ", entry.path().string());
    CHECK_FALSE(load_safetensors(entry.path().string()).tensors.empty());
    ++count;
  }
  CHECK(count > 0);
}

TEST_CASE("safetensors parse rejects: file shorter than 8 bytes") {
  check_rejects({}, "shorter than the 8-byte header length");
  check_rejects({1, 0, 0, 0, 0, 0, 0}, "shorter than the 8-byte header length");
}

TEST_CASE("safetensors parse rejects: header length past the file or above the bound") {
  std::vector<uint8_t> bytes = image("{}");
  bytes[0] = 3;  // claims 3 header bytes, 2 present
  check_rejects(bytes, "runs past the end of the file");

  std::vector<uint8_t> huge;
  put_u64_le(huge, 100'000'001);
  check_rejects(huge, "exceeds the bound of 100000000 bytes");
  huge.clear();
  put_u64_le(huge, ~uint64_t{0});
  check_rejects(huge, "exceeds the bound");
}

TEST_CASE("safetensors parse rejects: header not a JSON object") {
  check_rejects(image(""), "does not start with '{'");
  check_rejects(image("[1,2]"), "does not start with '{'");
  check_rejects(image(" {}"), "does not start with '{'");
  check_rejects(image("{\"a\":"), "not valid JSON");
  check_rejects(image("{\"a\" 1}"), "not valid JSON (file byte 13)");  // the '1'
  check_rejects(image("{} x"), "not valid JSON");
  check_rejects(image("{\"\xff\":1}"), "not valid JSON");  // invalid UTF-8
  check_rejects(image("{\"a\":1e999}"), "not valid JSON: number overflow");  // found by the fuzzer
  check_rejects(image(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                      R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
                      4),
                "the key 'a' twice");
}

TEST_CASE("safetensors parse rejects: entries missing fields or of the wrong JSON type") {
  check_rejects(image(R"({"t":5})"), "tensor 't': entry is not a JSON object");
  check_rejects(image(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4), "missing \"dtype\"");
  check_rejects(image(R"({"t":{"dtype":"F32","data_offsets":[0,4]}})", 4), "missing \"shape\"");
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[1]}})", 4), "missing \"data_offsets\"");
  check_rejects(image(R"({"t":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4),
                "\"dtype\" is not a string");
  check_rejects(image(R"({"t":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4),
                "\"shape\" is not an array");
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", 4),
                "a shape dim is not an integer");
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
                "\"data_offsets\" is not an array [begin, end]");
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":{"a":0}}})", 4),
                "\"data_offsets\" is not an array [begin, end]");
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})", 4),
                "data_offsets end is not an integer");
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4),
                "data_offsets begin is negative");
}

TEST_CASE("safetensors parse rejects: unsupported dtypes") {
  check_rejects(image(R"({"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 4),
                "dtype 'BF16' is not supported");
  check_rejects(image(R"({"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4),
                "dtype 'f32' is not supported");
}

TEST_CASE("safetensors parse rejects: negative dims and shape overflow") {
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                "a shape dim is negative");
  check_rejects(
      image(R"({"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})"),
      "overflows");
  // A zero dim does not excuse the others: their strides must still fit.
  check_rejects(
      image(R"({"t":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})"),
      "overflows");
  check_rejects(
      image(R"({"t":{"dtype":"F64","shape":[18446744073709551615],"data_offsets":[0,0]}})"),
      "overflows");
}

TEST_CASE("safetensors parse rejects: byte range not matching shape x dtype size") {
  check_rejects(image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
                "hold 4 bytes but shape [2] of F32 needs 8");
  check_rejects(image(R"({"t":{"dtype":"F64","shape":[1],"data_offsets":[8,0]}})", 8),
                "end before they begin");
}

TEST_CASE("safetensors parse rejects: offsets outside the data section") {
  const std::string header = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  check_rejects(image(header, 4), "run past the data section (4 bytes from file byte " +
                                      std::to_string(8 + header.size()) + ")");
  check_rejects(
      image(R"({"t":{"dtype":"I32","shape":[1],"data_offsets":[18446744073709551611,)"
            R"(18446744073709551615]}})"),
      "run past the data section (0 bytes");
}

TEST_CASE("safetensors parse rejects: overlapping tensors, holes, trailing bytes") {
  check_rejects(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      12),
                "tensors 'a' and 'b' overlap");
  check_rejects(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      8),
                "overlap");
  check_rejects(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                      12),
                "data bytes [4, 8)");
  check_rejects(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6),
                "2 trailing bytes");
}

TEST_CASE("safetensors parse rejects: bad metadata") {
  check_rejects(image(R"({"__metadata__":{"step":12}})"),
                "metadata value for key 'step' is not a string");
  check_rejects(image(R"({"__metadata__":["a"]})"), "\"__metadata__\" is not a JSON object");
}

// ---- checksums ----

namespace {

std::string crc_hex_of(const void* data, size_t n) {
  char text[9];
  std::snprintf(text, sizeof text, "%08lx", crc32(0, static_cast<const Bytef*>(data), n));
  return text;
}

// The JSON header of a file image.
nlohmann::json header_of(const std::vector<uint8_t>& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  return nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
}

// The file image of `header` (padded to keep the data 8-byte aligned) and `data`.
std::vector<uint8_t> with_header(const nlohmann::json& header, const uint8_t* data, size_t n) {
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<uint8_t> out = image(text);
  out.insert(out.end(), data, data + n);
  return out;
}

}  // namespace

TEST_CASE("safetensors checksums: each tensor's zlib crc32 in the metadata, hidden from callers") {
  TempDir dir;
  const std::string path = dir.file("crc.safetensors");
  const std::vector<float> a = {1.0f, -2.0f, 3.5f};
  const int32_t b[2] = {7, -9};
  save_safetensors(path,
                   {{"a", Tensor::from_vector({1.0, -2.0, 3.5}, {3})},
                    {"b", Tensor::from_vector({7, -9}, {2}, DType::I32)},
                    {"empty", Tensor::zeros({0})}},
                   {{"k", "v"}});
  const std::vector<uint8_t> bytes = read_bytes(path);
  const auto meta = header_of(bytes)["__metadata__"];
  REQUIRE(meta.contains(kSafetensorsChecksumKey));
  REQUIRE(meta[kSafetensorsChecksumKey].is_string());  // PyTorch's reader wants strings only
  const auto crcs = nlohmann::json::parse(meta[kSafetensorsChecksumKey].get<std::string>());
  CHECK(crcs == nlohmann::json({{"a", crc_hex_of(a.data(), 12)},
                                {"b", crc_hex_of(b, 8)},
                                {"empty", "00000000"}}));

  const SafetensorsFile loaded = load_safetensors(path);
  CHECK(loaded.metadata == std::map<std::string, std::string>{{"k", "v"}});
  CHECK(loaded.tensors.size() == 3);

  CHECK_THROWS_WITH_AS(save_safetensors(dir.file("x.safetensors"), {{"a", Tensor::ones({1})}},
                                        {{kSafetensorsChecksumKey, "{}"}}),
                       doctest::Contains("is reserved for the tensors' checksums"), Error);
}

TEST_CASE("safetensors checksums: every flipped data byte is refused, naming the tensor") {
  TempDir dir;
  const std::string path = dir.file("flip.safetensors");
  save_safetensors(path, {{"first", Tensor::from_vector(iota(4), {4})},
                          {"second", Tensor::from_vector(iota(3, 1.0), {3}, DType::F64)}});
  const std::vector<uint8_t> good = read_bytes(path);
  const size_t data_start = good.size() - (4 * 4 + 3 * 8);
  for (size_t at = data_start; at < good.size(); ++at) {
    std::vector<uint8_t> bad = good;
    bad[at] ^= 0x10;
    const char* tensor =
        at < data_start + 16 ? "tensor 'first' is corrupt" : "tensor 'second' is corrupt";
    INFO("flipped byte ", at);
    check_rejects(bad, tensor);
    write_bytes(path, bad);
    CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(tensor), Error);
  }
  write_bytes(path, good);
  CHECK(load_safetensors(path).tensors.size() == 2);
}

TEST_CASE("safetensors checksums: files without them load unchecked") {
  // What other writers produce (PyTorch's safetensors package, say): no key, no check.
  const float v[2] = {1.0f, 2.0f};
  const nlohmann::json header = {{"t", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                                 {"__metadata__", {{"format", "pt"}}}};
  std::vector<uint8_t> bytes = with_header(header, reinterpret_cast<const uint8_t*>(v), 8);
  bytes.back() ^= 0x01;
  const SafetensorsFile f = parse_safetensors(bytes.data(), bytes.size(), "other-tool");
  REQUIRE(f.tensors.size() == 1);
  CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}});
}

TEST_CASE("safetensors checksums: a hand-edited checksum map is one clear error") {
  TempDir dir;
  const std::string path = dir.file("edit.safetensors");
  save_safetensors(path, {{"a", Tensor::ones({2})}, {"b", Tensor::zeros({1})}});
  const std::vector<uint8_t> good = read_bytes(path);
  const nlohmann::json header = header_of(good);
  const uint8_t* data = good.data() + good.size() - 12;
  const std::string crc_a = nlohmann::json::parse(
      header["__metadata__"][kSafetensorsChecksumKey].get<std::string>())["a"];

  auto edited = [&](const std::string& crcs) {
    nlohmann::json h = header;
    h["__metadata__"][kSafetensorsChecksumKey] = crcs;
    return with_header(h, data, 12);
  };
  // b's crc32 is wrong here (zeros do not sum to 0): each edit below fails
  // before b's bytes are checked, except the last.
  const std::string b_wrong = R"("b":"00000000")";
  check_rejects(edited("{\"a\":"), "metadata 'tensor_crc32' is not valid JSON");
  check_rejects(edited("[1]"), "metadata 'tensor_crc32' is not a JSON object");
  check_rejects(edited("{\"a\":\"" + crc_a + "\"}"), "tensor 'b' has no crc32 in metadata");
  check_rejects(edited("{\"a\":\"" + crc_a + "\"," + b_wrong + ",\"c\":\"00000000\"}"),
                "names tensor 'c', which the file does not hold");
  check_rejects(edited("{\"a\":12345678," + b_wrong + "}"),
                "the crc32 of tensor 'a' is 12345678, not 8 hex digits");
  check_rejects(edited("{\"a\":\"1234567\"," + b_wrong + "}"), "is \"1234567\", not 8 hex digits");
  check_rejects(edited("{\"a\":\"1234567g\"," + b_wrong + "}"), "not 8 hex digits");
  check_rejects(edited("{\"a\":\"" + crc_a + "\"," + b_wrong + "}"),
                "tensor 'b' is corrupt: its bytes (file bytes [");
  // Upper-case hex is accepted: the value, not its spelling, is checked.
  std::string upper = crc_a;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const float zero = 0.0f;
  const std::vector<uint8_t> ok =
      edited("{\"a\":\"" + upper + "\",\"b\":\"" + crc_hex_of(&zero, 4) + "\"}");
  CHECK(parse_safetensors(ok.data(), ok.size(), "ok").tensors.size() == 2);
}

TEST_CASE("safetensors: any single-byte edit of a header is a motive::Error or a valid file") {
  // A hand-edited header must never surface as std::out_of_range, a JSON
  // library exception or a crash: each position gets a few telling bytes.
  TempDir dir;
  const std::string path = dir.file("mutate.safetensors");
  save_safetensors(path, {{"w", Tensor::from_vector(iota(3), {3})}, {"s", Tensor::scalar(2.0)}},
                   {{"step", "12"}});
  const std::vector<uint8_t> good = read_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | good[i];
  int errors = 0, valid = 0;
  for (size_t at = 0; at < 8 + n; ++at)
    for (const char b : {'0', '1', '9', '-', '"', '{', '}', '[', ']', ',', ':', ' ', 'x', '\\',
                         '\xff', '\0'}) {
      std::vector<uint8_t> bytes = good;
      bytes[at] = static_cast<uint8_t>(b);
      try {
        parse_safetensors(bytes.data(), bytes.size(), "edited");
        ++valid;
      } catch (const Error&) {
        ++errors;
      } catch (const std::exception& e) {
        FAIL("byte ", at, " set to ", int(static_cast<uint8_t>(b)), ": ", e.what());
      }
    }
  CHECK(errors > 0);
  CHECK(valid > 0);  // e.g. the same byte, or padding spaces
}

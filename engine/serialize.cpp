// safetensors reader and writer. The validation follows the reference
// implementation (huggingface/safetensors): bounded header length, a JSON object
// starting with '{', no duplicate keys, known dtypes, shape x dtype size equal
// to the byte range, and byte ranges that tile the data section exactly (no
// overlap, no holes, nothing trailing), so every data byte belongs to exactly
// one tensor and a file cannot double as something else.
#include "engine/serialize.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>
#include <zlib.h>

namespace motive {
namespace {

// Tensor bytes are copied verbatim between memory and the file, and the format
// is little-endian: a big-endian host would need a byte swap that we do not have.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "motive's safetensors I/O copies raw bytes and needs a little-endian host");

using json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kChecksumKey = kSafetensorsChecksumKey;
constexpr int kCrcDigits = 8;  // a crc32 as hex
constexpr uint64_t kLengthBytes = 8;  // the header-length prefix
constexpr DType kSupported[] = {DType::F32, DType::F64, DType::I32};

// Every message starts with the file, so a failure while loading one of many
// checkpoints says which one.
template <class... Parts>
[[noreturn]] void fail_file(const std::string& file, const Parts&... parts) {
  fail("safetensors '", file, "': ", parts...);
}

bool is_supported(DType d) {
  return std::find(std::begin(kSupported), std::end(kSupported), d) != std::end(kSupported);
}

// One tensor as the header describes it, after validation.
struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  std::optional<uint32_t> crc;  // what the writer recorded; none in files of other tools
};

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;  // sorted by begin: the order of the data in the file
};

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void write_u64_le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Validates the 8-byte prefix of a file of `file_size` bytes and returns the
// header length. `prefix` is read only when the file holds at least 8 bytes.
uint64_t header_length(const uint8_t* prefix, uint64_t file_size, const std::string& file) {
  if (file_size < kLengthBytes)
    fail_file(file, "file is ", file_size, " bytes, shorter than the ", kLengthBytes,
              "-byte header length");
  const uint64_t n = read_u64_le(prefix);
  if (n > kSafetensorsMaxHeaderBytes)
    fail_file(file, "header length ", n, " (bytes 0-7) exceeds the bound of ",
              kSafetensorsMaxHeaderBytes, " bytes");
  if (n > file_size - kLengthBytes)
    fail_file(file, "header length ", n, " (bytes 0-7) runs past the end of the file (",
              file_size, " bytes)");
  return n;
}

DType parse_dtype(const json& v, const std::string& file, const std::string& name) {
  if (!v.is_string()) fail_file(file, "tensor '", name, "': \"dtype\" is not a string");
  const auto& s = v.get_ref<const std::string&>();
  for (DType d : kSupported)
    if (s == dtype_name(d)) return d;
  fail_file(file, "tensor '", name, "': dtype '", s,
            "' is not supported (motive reads F32, F64 and I32)");
}

// A non-negative JSON integer; `what` names the field in the error.
uint64_t parse_uint(const json& v, const std::string& file, const std::string& name,
                    const char* what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  // nlohmann stores "-0" as a signed integer; only its value says if it is negative.
  if (v.is_number_integer()) {
    if (v.get<int64_t>() == 0) return 0;
    fail_file(file, "tensor '", name, "': ", what, " is negative (", v.dump(), ")");
  }
  fail_file(file, "tensor '", name, "': ", what, " is not an integer (", v.dump(), ")");
}

const json& field(const json& entry, const char* key, const std::string& file,
                  const std::string& name) {
  auto it = entry.find(key);
  if (it == entry.end()) fail_file(file, "tensor '", name, "': missing \"", key, "\"");
  return *it;
}

Entry parse_entry(const std::string& name, const json& v, const std::string& file) {
  if (!v.is_object()) fail_file(file, "tensor '", name, "': entry is not a JSON object");
  Entry e;
  e.name = name;
  e.dtype = parse_dtype(field(v, "dtype", file, name), file, name);

  const json& shape = field(v, "shape", file, name);
  if (!shape.is_array()) fail_file(file, "tensor '", name, "': \"shape\" is not an array");
  // Bound the product of the non-zero dims times the element size by INT64_MAX:
  // then the byte count and the contiguous strides of the tensor we allocate
  // all fit in int64, even for a zero-element shape such as [0, 2^62].
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t bytes = dtype_size(e.dtype);
  bool empty = false;
  for (const json& d : shape) {
    const uint64_t dim = parse_uint(d, file, name, "a shape dim");
    if (dim == 0) {
      empty = true;
    } else if (dim > limit / bytes) {
      fail_file(file, "tensor '", name, "': shape ", shape.dump(),
                " overflows: its dims times the ", dtype_name(e.dtype),
                " size exceed 2^63-1 bytes");
    } else {
      bytes *= dim;
    }
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  if (empty) bytes = 0;

  const json& offsets = field(v, "data_offsets", file, name);
  if (!offsets.is_array() || offsets.size() != 2)
    fail_file(file, "tensor '", name, "': \"data_offsets\" is not an array [begin, end]");
  e.begin = parse_uint(offsets[0], file, name, "data_offsets begin");
  e.end = parse_uint(offsets[1], file, name, "data_offsets end");
  if (e.end < e.begin)
    fail_file(file, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end,
              "] end before they begin");
  if (e.end - e.begin != bytes)
    fail_file(file, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] hold ",
              e.end - e.begin, " bytes but shape ", shape_str(e.shape), " of ",
              dtype_name(e.dtype), " needs ", bytes);
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& v, const std::string& file) {
  if (!v.is_object()) fail_file(file, "\"", kMetadataKey, "\" is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& item : v.items()) {
    if (!item.value().is_string())
      fail_file(file, "metadata value for key '", item.key(), "' is not a string (",
                item.value().dump(), ")");
    out.emplace(item.key(), item.value().get<std::string>());
  }
  return out;
}

uint32_t crc32_of(const void* data, uint64_t nbytes) {
  return static_cast<uint32_t>(
      crc32_z(crc32_z(0, nullptr, 0), static_cast<const Bytef*>(data), static_cast<size_t>(nbytes)));
}

std::string crc_hex(uint32_t crc) {
  char text[kCrcDigits + 1];
  std::snprintf(text, sizeof text, "%08x", crc);
  return text;
}

// 8 hex digits (either case), or nothing.
std::optional<uint32_t> parse_crc_hex(const std::string& s) {
  if (s.size() != kCrcDigits) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (digit < 0) return std::nullopt;
    v = v << 4 | static_cast<uint32_t>(digit);
  }
  return v;
}

// nlohmann's message without its "[json.exception.parse_error.101] " tag.
std::string strip_json_tag(const json::exception& e) {
  std::string why = e.what();
  const auto tag_end = why.find("] ");
  if (tag_end != std::string::npos) why.erase(0, tag_end + 2);
  return why;
}

// Parses JSON, refusing duplicate keys in any object: nlohmann keeps the last
// one silently, which would let one reader see a different tensor than another.
json parse_json_unique(const char* first, const char* last, const std::string& file) {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  json::parser_callback_t track = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && !duplicate) duplicate = key;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(first, last, track);
  } catch (const json::parse_error& e) {
    // e.byte counts from 1 within the header; report the offset in the file.
    const uint64_t at = kLengthBytes + (e.byte > 0 ? e.byte - 1 : 0);
    fail_file(file, "header is not valid JSON (file byte ", at, "): ", strip_json_tag(e));
  } catch (const json::exception& e) {
    // Well-formed JSON that nlohmann still refuses, e.g. a number such as 1e999
    // that overflows a double (out_of_range.406, which carries no offset).
    fail_file(file, "header is not valid JSON: ", strip_json_tag(e));
  }
  if (duplicate) fail_file(file, "header has the key '", *duplicate, "' twice");
  return root;
}

// Moves the writer's checksums out of the metadata into the entries. Checked
// like the rest of the header: a hand-edited map that names a tensor the file
// does not hold, misses one it does, or holds something other than 8 hex
// digits is an error, never a silently unchecked tensor.
void take_checksums(Header& h, const std::string& file) {
  const auto it = h.metadata.find(kChecksumKey);
  if (it == h.metadata.end()) return;  // written by another tool
  const std::string where = std::string("metadata '") + kChecksumKey + "'";
  json crcs;
  try {
    crcs = json::parse(it->second);
  } catch (const json::exception& e) {
    fail_file(file, where, " is not valid JSON: ", strip_json_tag(e));
  }
  if (!crcs.is_object()) fail_file(file, where, " is not a JSON object {\"tensor\": \"crc32\"}");
  std::map<std::string, Entry*> by_name;
  for (Entry& e : h.entries) by_name[e.name] = &e;
  for (const auto& item : crcs.items()) {
    const auto entry = by_name.find(item.key());
    if (entry == by_name.end())
      fail_file(file, where, " names tensor '", item.key(), "', which the file does not hold");
    const std::optional<uint32_t> crc =
        item.value().is_string() ? parse_crc_hex(item.value().get<std::string>()) : std::nullopt;
    if (!crc)
      fail_file(file, where, ": the crc32 of tensor '", item.key(), "' is ", item.value().dump(),
                ", not ", kCrcDigits, " hex digits");
    entry->second->crc = crc;
  }
  for (const Entry& e : h.entries)
    if (!e.crc) fail_file(file, "tensor '", e.name, "' has no crc32 in ", where);
  h.metadata.erase(it);
}

// Validates the JSON header of `n` bytes against a data section of `data_size`
// bytes that starts right after it.
Header parse_header(const uint8_t* text, uint64_t n, uint64_t data_size,
                    const std::string& file) {
  // The spec requires '{' first; valid JSON that starts with '{' is an object.
  if (n == 0 || text[0] != '{')
    fail_file(file, "header (file byte ", kLengthBytes,
              ") is not a JSON object: it does not start with '{'");
  const char* chars = reinterpret_cast<const char*>(text);
  const json root = parse_json_unique(chars, chars + n, file);

  Header h;
  for (const auto& item : root.items()) {
    if (item.key() == kMetadataKey) {
      h.metadata = parse_metadata(item.value(), file);
    } else {
      h.entries.push_back(parse_entry(item.key(), item.value(), file));
    }
  }

  const uint64_t data_start = kLengthBytes + n;
  for (const Entry& e : h.entries)
    if (e.end > data_size)
      fail_file(file, "tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end,
                "] run past the data section (", data_size, " bytes from file byte ",
                data_start, ")");
  // Sorting by (begin, end) puts zero-byte tensors before a tensor starting at
  // the same offset, so they never count as overlapping it.
  std::stable_sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin < covered)
      fail_file(file, "tensors '", previous->name, "' and '", e.name,
                "' overlap: the second starts at data byte ", e.begin, " (file byte ",
                data_start + e.begin, ") before the first ends at ", covered);
    if (e.begin > covered)
      fail_file(file, "data bytes [", covered, ", ", e.begin, ") (file byte ",
                data_start + covered, ") belong to no tensor");
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    fail_file(file, "data section has ", data_size - covered,
              " trailing bytes that belong to no tensor (from file byte ",
              data_start + covered, ")");
  take_checksums(h, file);
  return h;
}

// Compares a tensor's bytes, just read from data-section offset e.begin of a
// file whose data section starts at `data_start`, with the recorded crc32.
void verify(const Entry& e, const void* bytes, uint64_t data_start, const std::string& file) {
  if (!e.crc) return;
  const uint32_t actual = crc32_of(bytes, e.end - e.begin);
  if (actual != *e.crc)
    fail_file(file, "tensor '", e.name, "' is corrupt: its bytes (file bytes [",
              data_start + e.begin, ", ", data_start + e.end, ")) have crc32 ", crc_hex(actual),
              ", the header records ", crc_hex(*e.crc));
}

// A contiguous CPU tensor for the entry, ready to receive its bytes.
Tensor allocate(const Entry& e) { return Tensor::empty(e.shape, e.dtype, Device::CPU); }

// Removes the temporary file on every exit except a successful rename.
struct TempFile {
  std::string path;
  bool committed = false;
  ~TempFile() {
    if (!committed) std::remove(path.c_str());
  }
};

// The header text of `tensors` with `crcs` as their checksums (placeholders
// before the data is written: a crc32 is always 8 hex digits, so the text has
// the same length), padded with spaces so the data section starts 8-byte
// aligned, as the reference writer does; readers may then map tensors in place.
std::string header_text(const std::vector<std::pair<std::string, Tensor>>& tensors,
                        std::map<std::string, std::string> metadata,
                        const std::vector<uint32_t>& crcs, const std::string& path) {
  json header = json::object(), crc_map = json::object();
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    crc_map[name] = crc_hex(crcs[i]);
    offset += nbytes;
  }
  std::string text;
  try {
    metadata[kChecksumKey] = crc_map.dump();
    header[kMetadataKey] = metadata;
    text = header.dump();
  } catch (const json::type_error&) {
    fail_file(path, "a tensor name or metadata string is not valid UTF-8");
  }
  text.append((kLengthBytes - text.size() % kLengthBytes) % kLengthBytes, ' ');
  return text;
}

}  // namespace

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  if (metadata.count(kChecksumKey))
    fail_file(path, "metadata key '", kChecksumKey, "' is reserved for the tensors' checksums");
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    if (name == kMetadataKey)
      fail_file(path, "'", kMetadataKey, "' is reserved, not a tensor name");
    if (!names.insert(name).second) fail_file(path, "tensor name '", name, "' appears twice");
    if (!t.defined()) fail_file(path, "tensor '", name, "' is undefined");
    if (!is_supported(t.dtype()))
      fail_file(path, "tensor '", name, "': dtype ", dtype_name(t.dtype()),
                " is not supported (motive writes F32, F64 and I32)");
  }
  std::vector<uint32_t> crcs(tensors.size(), 0);
  const std::string placeholder = header_text(tensors, metadata, crcs, path);

  TempFile tmp{path + ".tmp"};
  std::ofstream out(tmp.path, std::ios::binary | std::ios::trunc);
  if (!out)
    fail_file(path, "cannot open '", tmp.path, "' for writing: ", std::strerror(errno));
  uint8_t prefix[kLengthBytes];
  write_u64_le(prefix, placeholder.size());
  out.write(reinterpret_cast<const char*>(prefix), kLengthBytes);
  out.write(placeholder.data(), static_cast<std::streamsize>(placeholder.size()));
  // Each tensor is copied to the host once: its bytes are checksummed as they
  // are written, and the header is rewritten with the checksums at the end.
  for (size_t i = 0; i < tensors.size(); ++i) {
    // detach(): the row-major host copy of a view must not be recorded by autograd.
    const Tensor c = tensors[i].second.detach().to(Device::CPU).contiguous();
    const size_t nbytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
    crcs[i] = crc32_of(c.raw_data(), nbytes);
    if (nbytes > 0)
      out.write(static_cast<const char*>(c.raw_data()), static_cast<std::streamsize>(nbytes));
  }
  const std::string text = header_text(tensors, metadata, crcs, path);
  MOTIVE_CHECK(text.size() == placeholder.size(), "save_safetensors: the header changed length");
  out.seekp(kLengthBytes);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.flush();
  out.close();
  if (out.fail()) fail_file(path, "writing '", tmp.path, "' failed: ", std::strerror(errno));
  if (std::rename(tmp.path.c_str(), path.c_str()) != 0)
    fail_file(path, "renaming '", tmp.path, "' to it failed: ", std::strerror(errno));
  tmp.committed = true;
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size,
                                  const std::string& name_for_errors) {
  const uint64_t n = header_length(data, size, name_for_errors);
  const Header h =
      parse_header(data + kLengthBytes, n, size - kLengthBytes - n, name_for_errors);
  const uint8_t* section = data + kLengthBytes + n;
  SafetensorsFile out;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    verify(e, section + e.begin, kLengthBytes + n, name_for_errors);
    Tensor t = allocate(e);
    if (e.end > e.begin) std::memcpy(t.raw_data(), section + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail_file(path, "cannot read: ", ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_file(path, "cannot open: ", std::strerror(errno));
  // A file that shrinks or fails between the size check and a read.
  auto read = [&](void* dst, uint64_t nbytes, uint64_t at) {
    if (!in.read(static_cast<char*>(dst), static_cast<std::streamsize>(nbytes)))
      fail_file(path, "read of ", nbytes, " bytes at file byte ", at, " failed");
  };

  uint8_t prefix[kLengthBytes] = {};
  if (size >= kLengthBytes) read(prefix, kLengthBytes, 0);
  const uint64_t n = header_length(prefix, size, path);
  std::vector<uint8_t> text(n);
  read(text.data(), n, kLengthBytes);
  const Header h = parse_header(text.data(), n, size - kLengthBytes - n, path);

  SafetensorsFile out;
  out.metadata = h.metadata;
  // The entries tile the data section in order, so the reads are sequential.
  for (const Entry& e : h.entries) {
    Tensor t = allocate(e);
    if (e.end > e.begin) read(t.raw_data(), e.end - e.begin, kLengthBytes + n + e.begin);
    verify(e, t.raw_data(), kLengthBytes + n, path);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace motive

#include "data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>

#include "data/file.h"
#include "data/parallel.h"
#include "engine/error.h"

namespace motive {

namespace {

namespace fs = std::filesystem;

// What a user can do about a bad image. Skipping is a library option only
// (ImageFolderOptions::skip_bad, reached through DataSpec::skip_bad): the
// trainer has no flag for it, so the hint must not promise one.
constexpr const char* kSkipHint =
    "; fix or remove it (a program opening the folder through motive's data library can skip "
    "and count bad images instead: DataSpec::skip_bad)";

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Sorted entries of `dir` that pass `keep`; a directory that cannot be listed
// is an error naming it.
template <class Keep>
std::vector<std::string> list_sorted(const std::string& dir, Keep keep) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) fail("image folder: cannot list '", dir, "': ", ec.message());
  std::vector<std::string> out;
  for (const fs::directory_entry& entry : it)
    if (!hidden(entry.path()) && keep(entry)) out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string stb_reason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "unknown error";
}

using Pixels = std::unique_ptr<stbi_uc, void (*)(void*)>;

// Why the image at `path` must not be decoded ("" when it may): an unreadable
// header, or more pixels than kMaxImagePixels. Reads the header only.
std::string header_problem(const std::string& path, int& w, int& h) {
  int c = 0;
  if (!stbi_info(path.c_str(), &w, &h, &c)) return stb_reason();
  if (int64_t(w) * h > kMaxImagePixels)
    return "its header declares " + std::to_string(w) + "x" + std::to_string(h) + " pixels, " +
           "above the limit of " + std::to_string(kMaxImagePixels) + " (2^26, kMaxImagePixels)";
  return "";
}

// The decoded RGB pixels, or null (stbi_failure_reason() says why).
Pixels decode_rgb(const std::string& path, int& w, int& h) {
  int c = 0;
  return Pixels(stbi_load(path.c_str(), &w, &h, &c, 3), stbi_image_free);
}

// "" when the image is readable: its header only, or the whole image when `full`.
std::string check_image(const std::string& path, bool full) {
  int w = 0, h = 0;
  std::string problem = header_problem(path, w, h);
  if (problem.empty() && full && !decode_rgb(path, w, h)) problem = stb_reason();
  return problem;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Reports a bad image or class: a counted skip when asked for, else an error.
struct Problems {
  bool skip_bad;
  std::vector<std::string> skipped;
  void report(const std::string& message) {
    if (!skip_bad) fail(message, kSkipHint);
    skipped.push_back(message);
  }
};

// Each class's candidate image paths from a split list (in list order).
std::vector<std::vector<std::string>> read_split_list(const std::string& root,
                                                      const std::vector<std::string>& classes,
                                                      const std::string& list_file,
                                                      Problems& problems) {
  std::map<std::string, int32_t> index;
  for (size_t c = 0; c < classes.size(); ++c) index[classes[c]] = static_cast<int32_t>(c);
  std::vector<std::vector<std::string>> per_class(classes.size());
  const std::vector<uint8_t> bytes = read_file(list_file);
  const std::string text(bytes.begin(), bytes.end());
  size_t start = 0;
  for (int64_t line_no = 1; start < text.size(); ++line_no) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = "split list '" + list_file + "' line " + std::to_string(line_no);
    const auto cls = index.find(line.substr(0, line.find('/')));
    if (line.find('/') == std::string::npos || cls == index.end())
      fail(where, ": '", line, "' is not inside a class folder of '", root, "'");
    const std::string path = root + "/" + line;
    if (first_existing_file({path}).empty())
      problems.report(where + ": image '" + path + "' does not exist");
    else
      per_class[static_cast<size_t>(cls->second)].push_back(path);
  }
  return per_class;
}

}  // namespace

ImageFolderDataset::ImageFolderDataset(std::vector<std::string> classes, std::vector<Item> items,
                                       std::vector<std::string> skipped)
    : classes_(std::move(classes)), items_(std::move(items)), skipped_(std::move(skipped)) {}

ImageView ImageFolderDataset::image(int64_t i, std::vector<uint8_t>& scratch) const {
  const std::string& file = path(i);
  int w = 0, h = 0;
  // The header again: the file may have changed since the folder was opened.
  std::string problem = header_problem(file, w, h);
  Pixels pixels(nullptr, stbi_image_free);
  if (problem.empty()) {
    pixels = decode_rgb(file, w, h);
    if (!pixels) problem = stb_reason();
  }
  if (!problem.empty())
    fail("image '", file, "' (item ", i, ") cannot be decoded: ", problem,
         "; fix or remove it (a program using motive's data library can leave such images out "
         "at open: DataSpec::full_check with DataSpec::skip_bad)");
  scratch.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * h * 3);
  return {scratch.data(), h, w, 3};
}

std::shared_ptr<const ImageFolderDataset> open_image_folder(const std::string& root,
                                                            const ImageFolderOptions& options) {
  MOTIVE_CHECK(options.limit >= -1, "image folder: limit must be -1 (all) or >= 0, got ",
               options.limit);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) fail("image folder '", root, "' is not a directory");
  std::vector<std::string> classes = options.classes;
  if (classes.empty())
    classes = list_sorted(root, [](const fs::directory_entry& e) { return e.is_directory(); });
  if (classes.empty())
    fail("image folder '", root, "' has no class folders (expected ", root,
         "/<class>/<image>.jpg)");

  Problems problems{options.skip_bad, {}};
  std::vector<std::vector<std::string>> per_class;
  if (!options.list_file.empty()) {
    per_class = read_split_list(root, classes, options.list_file, problems);
  } else {
    for (const std::string& cls : classes) {
      const std::string dir = root + "/" + cls;
      std::vector<std::string> files;
      if (fs::is_directory(dir, ec))
        for (const std::string& name : list_sorted(dir, [](const fs::directory_entry& e) {
               return e.is_regular_file() && is_image_name(e.path());
             }))
          files.push_back(dir + "/" + name);
      per_class.push_back(std::move(files));
    }
  }
  for (size_t c = 0; c < classes.size(); ++c)
    if (per_class[c].empty())
      problems.report("class folder '" + root + "/" + classes[c] +
                      "' holds no .jpg/.jpeg/.png image" +
                      (options.list_file.empty() ? "" : " named by '" + options.list_file + "'"));

  // Round-robin over the classes, so any prefix holds every class.
  std::vector<ImageFolderDataset::Item> order;
  for (size_t rank = 0;; ++rank) {
    const size_t before = order.size();
    for (size_t c = 0; c < classes.size(); ++c)
      if (rank < per_class[c].size())
        order.push_back({per_class[c][rank], static_cast<int32_t>(c)});
    if (order.size() == before) break;
  }

  // Checked in parallel rounds until `limit` good images are found, so a quick
  // run on a prefix does not read the whole tree's headers. The verdicts are
  // then taken in order, so the first error and the skips are deterministic.
  const size_t want = options.limit < 0 ? order.size() : static_cast<size_t>(options.limit);
  std::vector<ImageFolderDataset::Item> items;
  for (size_t next = 0; items.size() < want && next < order.size();) {
    const size_t n = std::min(order.size() - next, want - items.size());
    std::vector<std::string> verdicts(n);
    parallel_ranges(static_cast<int64_t>(n), options.threads, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k)
        verdicts[static_cast<size_t>(k)] = check_image(order[next + k].path, options.full_check);
    });
    for (size_t k = 0; k < n; ++k, ++next) {
      if (verdicts[k].empty())
        items.push_back(std::move(order[next]));
      else
        problems.report("image '" + order[next].path + "' cannot be decoded: " + verdicts[k]);
    }
  }
  return std::make_shared<ImageFolderDataset>(std::move(classes), std::move(items),
                                              std::move(problems.skipped));
}

}  // namespace motive

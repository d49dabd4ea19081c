#include "trainer/run_config.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine/error.h"
#include "trainer/json_fields.h"

namespace motive {

bool RunConfig::bf16_autocast() const {
  MOTIVE_CHECK(precision == "fp32" || precision == "bf16", "precision '", precision,
               "' is not fp32 or bf16");
  return precision == "bf16";
}

std::vector<std::string> RunConfig::chain() const {
  std::vector<std::string> out = {base};
  if (!has_motivated()) return out;
  out.insert(out.end(), middle.begin(), middle.end());
  out.push_back(motivated);
  return out;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  MOTIVE_CHECK(in, "cannot read '", path, "': ", std::strerror(errno));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("'", path, "' is not valid JSON: ", e.what());
  }
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    MOTIVE_CHECK(out, "cannot write '", tmp, "': ", std::strerror(errno));
    out << j.dump(2) << '\n';
    MOTIVE_CHECK(out.flush(), "writing '", tmp, "' failed: ", std::strerror(errno));
  }
  MOTIVE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "renaming '", tmp, "' to '", path,
               "' failed: ", std::strerror(errno));
}

void save_run_config(const RunConfig& config, const std::string& run_dir) {
  write_json_file(run_dir + "/config.json", fields_to_json(config));
}

RunConfig load_run_config(const std::string& run_dir) {
  const std::string path = run_dir + "/config.json";
  const nlohmann::json j = read_json_file(path);
  try {
    return fields_from_json<RunConfig>(j);
  } catch (const Error& e) {
    fail("'", path, "': ", e.what());
  }
}

}  // namespace motive

// Plain structs <-> JSON objects from one list of fields per struct, so that
// writing and reading a struct cannot drift apart. A struct T provides
//   template <class Self, class Visit> static void fields(Self& self, Visit&& visit)
// calling visit("key", self.member) for every member (Self is T or const T).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/error.h"

namespace motive {

template <class T>
nlohmann::json fields_to_json(const T& value) {
  nlohmann::json j = nlohmann::json::object();
  T::fields(value, [&](const char* key, const auto& member) { j[key] = member; });
  return j;
}

// Every key is required: a record that silently fell back to a default would,
// for a config or a checkpoint, resume a different run. Errors name the key.
template <class T>
T fields_from_json(const nlohmann::json& j) {
  MOTIVE_CHECK(j.is_object(), "expected a JSON object, got ", j.dump());
  T value;
  T::fields(value, [&](const char* key, auto& member) {
    MOTIVE_CHECK(j.contains(key), "missing key '", key, "'");
    try {
      j.at(key).get_to(member);
    } catch (const nlohmann::json::exception&) {
      fail("key '", key, "' has the wrong type (", j.at(key).dump(), ")");
    }
  });
  return value;
}

// A measurement that may be absent: its value, or null.
inline nlohmann::json or_null(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace motive

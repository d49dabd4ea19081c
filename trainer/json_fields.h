// Plain structs <-> JSON objects from one list of fields per struct, so that
// writing and reading a struct cannot drift apart. A struct T provides
//   template <class Self, class Visit> static void fields(Self& self, Visit&& visit)
// calling visit("key", self.member) for every member (Self is T or const T).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <type_traits>

#include "engine/error.h"

namespace motive {

template <class T>
nlohmann::json fields_to_json(const T& value) {
  nlohmann::json j = nlohmann::json::object();
  T::fields(value, [&](const char* key, const auto& member) { j[key] = member; });
  return j;
}

// j[key] as a T, or motive::Error naming the key. Stricter than nlohmann's
// conversions, which would turn 1.5 into 1 and -1 into 2^64 - 1: an integer
// must be a JSON integer, an unsigned one non-negative.
template <class T>
T json_value(const nlohmann::json& j, const char* key) {
  MOTIVE_CHECK(j.is_object(), "expected a JSON object, got ", j.dump());
  MOTIVE_CHECK(j.contains(key), "missing key '", key, "'");
  const nlohmann::json& v = j.at(key);
  bool fits = true;
  if constexpr (std::is_same_v<T, bool>)
    fits = v.is_boolean();
  else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>)
    fits = v.is_number_unsigned();
  else if constexpr (std::is_integral_v<T>)
    fits = v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>)
    fits = v.is_number();
  MOTIVE_CHECK(fits, "key '", key, "' has the wrong type (", v.dump(), ")");
  try {
    return v.get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("key '", key, "' has the wrong type (", v.dump(), ")");
  }
}

// Every key is required: a record that silently fell back to a default would,
// for a config or a checkpoint, resume a different run. Errors name the key.
template <class T>
T fields_from_json(const nlohmann::json& j) {
  MOTIVE_CHECK(j.is_object(), "expected a JSON object, got ", j.dump());
  T value;
  T::fields(value, [&](const char* key, auto& member) {
    member = json_value<std::decay_t<decltype(member)>>(j, key);
  });
  return value;
}

// A measurement that may be absent: its value, or null.
inline nlohmann::json or_null(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace motive

// Pieces of the model-name parsers (models/<family>/config.cpp): names are
// dash-separated tokens with numbers in them (vit-s-p4-d6, efficientnet-b0x0.5-s3).
#pragma once
#include <cctype>
#include <charconv>
#include <sstream>
#include <string>
#include <vector>

namespace motive {

// `s` cut at every `sep` ("a--b-" -> "a", "", "b", "").
inline std::vector<std::string> split_name(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

// Whether `s` is a number of type T and nothing else, starting with a digit (so
// no sign, blank, "inf" or "nan"); an integer T takes no decimal point.
template <class T>
bool parse_number(const std::string& s, T& out) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s.front()))) return false;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

}  // namespace motive

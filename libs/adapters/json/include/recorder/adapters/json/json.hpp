#pragma once

// Small helpers over RapidJSON for everything that reads or writes client JSON (the
// dialect codecs, the REST API): one parse with the depth limit and the duplicate-key check.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace recorder::adapters::json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline void put(Writer& w, std::string_view key, std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}
// Without this, a string literal would convert to bool rather than to std::string_view.
inline void put(Writer& w, std::string_view key, const char* value) { put(w, key, std::string_view(value)); }
inline void put(Writer& w, std::string_view key, std::uint64_t value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.Uint64(value);
}
inline void put(Writer& w, std::string_view key, std::int64_t value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.Int64(value);
}
inline void put(Writer& w, std::string_view key, double value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.Double(value);
}
inline void put(Writer& w, std::string_view key, bool value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.Bool(value);
}
inline void put(Writer& w, std::string_view key, const std::vector<std::uint64_t>& values) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.StartArray();
  for (auto v : values) w.Uint64(v);
  w.EndArray();
}
inline void put_null(Writer& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.Null();
}

// The deepest nesting of arrays and objects a client's message may have. The protocol's
// messages need 4 at most; past the limit the message is refused before it is parsed, so
// nothing recurses over a client's brackets (docs/protocol.md, "Limits").
inline constexpr std::size_t kMaxDepth = 32;

// How deeply `text` nests arrays and objects (brackets outside strings), counting no
// further than `limit` + 1. Iterative: it is what stands between a client and the stack.
inline std::size_t nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// The first key that appears twice in one object of `v`, if any. A message with one is
// refused: which of the two values counts would be a guess. Recursion is bounded by
// kMaxDepth, checked before parsing.
inline std::optional<std::string> duplicate_key(const rapidjson::Value& v) {
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (auto d = duplicate_key(e)) return d;
    }
  } else if (v.IsObject()) {
    std::vector<std::string_view> keys;
    keys.reserve(v.MemberCount());
    for (const auto& m : v.GetObject()) {
      keys.emplace_back(m.name.GetString(), m.name.GetStringLength());
      if (auto d = duplicate_key(m.value)) return d;
    }
    std::ranges::sort(keys);
    if (auto same = std::ranges::adjacent_find(keys); same != keys.end()) return std::string(*same);
  }
  return std::nullopt;
}

// Parses `text`; on failure the message says where and why. The parse is iterative and
// the nesting is checked first: no client message can exhaust the stack.
inline std::optional<std::string> parse(rapidjson::Document& doc, const std::string& text) {
  if (nesting_depth(text, kMaxDepth) > kMaxDepth)
    return "arrays and objects nested deeper than " + std::to_string(kMaxDepth) + " levels";
  doc.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
  if (doc.HasParseError())
    return std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
           std::to_string(doc.GetErrorOffset());
  if (auto key = duplicate_key(doc)) return "the key \"" + *key + "\" appears twice in one object";
  return std::nullopt;
}

inline const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

}  // namespace recorder::adapters::json

#pragma once

// Small helpers over RapidJSON for the dialect codecs.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace recorder::adapters::websocket::json {

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

// Parses `text`; on failure the message says where and why.
inline std::optional<std::string> parse(rapidjson::Document& doc, const std::string& text) {
  doc.Parse(text.c_str(), text.size());
  if (!doc.HasParseError()) return std::nullopt;
  return std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
         std::to_string(doc.GetErrorOffset());
}

inline const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

}  // namespace recorder::adapters::websocket::json

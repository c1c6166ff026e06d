#pragma once

#include <rapidjson/document.h>

#include <string>

namespace recorder::testing {

// Parses a server message; test assertions then read it like a tree.
inline rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

inline std::string chunk_json(const std::string& id, std::uint64_t index, const std::string& base64_data) {
  return R"({"event":"chunk","data":{"recordId":")" + id + R"(","index":)" + std::to_string(index) + R"(,"data":")" +
         base64_data + R"("}})";
}

inline std::string event_json(const std::string& event, const std::string& id) {
  return R"({"event":")" + event + R"(","data":{"recordId":")" + id + R"("}})";
}

}  // namespace recorder::testing

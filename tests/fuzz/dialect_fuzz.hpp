#pragma once

// What the dialect fuzz targets share: the input is a conversation, messages separated by
// '\n'; a message that starts with 0x01 is a binary frame (the rest of it), any other a
// text frame. Each input gets a fresh core on fakes (tests/support), so a crash
// reproduces from its input alone. The replies are parsed back: a reply that is not valid
// JSON is a bug too.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "dialect.hpp"
#include "recorder/testing/fakes.hpp"

namespace recorder::fuzz {

struct Wire final : adapters::websocket::Outbox, adapters::websocket::SessionHost {
  void send_text(std::string text) override {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError() || !d.IsObject() && !d.IsArray()) std::abort();  // we wrote invalid JSON
  }
  void watch(const core::RecordingId&) override {}
  std::string download_url(const std::string& path) const override { return "http://fuzz/media/" + path; }
};

inline void converse(adapters::websocket::DialectSession& session, const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  session.on_open();
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    std::string_view message = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (!message.empty() && message.front() == '\x01') session.on_binary(std::string(message.substr(1)));
    else session.on_text(std::string(message));
  }
  session.on_close();
}

}  // namespace recorder::fuzz

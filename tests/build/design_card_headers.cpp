// Includes every design-card library but websocketpp (see websocketpp_probe.cpp) and
// prints what it linked against, so that a missing or broken package fails here first.
#include <curl/curl.h>
#include <fmt/format.h>
#include <gst/gst.h>
#include <sqlite3.h>

#include <expected>
#include <pqxx/pqxx>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

std::string websocketpp_probe();

int main() {
  std::expected<int, std::string> cxx23 = 23;
  rapidjson::Document doc;
  doc.Parse(R"({"standard": 23})");
  if (doc.HasParseError() || doc["standard"].GetInt() != *cxx23) return 1;
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);

  gst_init(nullptr, nullptr);
  gchar* gst = gst_version_string();
  fmt::print("C++{} {}\nrapidjson {} {}\n{}\nsqlite {}\n{}\nlibpqxx {}\nfmt {}\n{}\n", *cxx23, __cplusplus,
             RAPIDJSON_VERSION_STRING, buffer.GetString(), gst, sqlite3_libversion(), curl_version(), PQXX_VERSION,
             FMT_VERSION, websocketpp_probe());
  g_free(gst);
  return 0;
}

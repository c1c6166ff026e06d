// The docs say what the code does: the transition table in docs/architecture.md and the
// configuration reference in docs/operations.md are compared with the code's own tables.

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "recorder/core/app/config.hpp"
#include "recorder/core/domain/state_machine.hpp"

namespace {

// The text between <!-- NAME:begin --> and <!-- NAME:end -->, without surrounding blank lines.
std::string marked_section(const std::string& file, const std::string& name) {
  std::ifstream in(std::string(RECORDER_SOURCE_DIR) + "/" + file);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string begin = "<!-- " + name + ":begin -->\n";
  const std::string end = "<!-- " + name + ":end -->";
  const auto b = text.find(begin);
  const auto e = text.find(end);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  std::string section = text.substr(b + begin.size(), e - b - begin.size());
  while (!section.empty() && section.front() == '\n') section.erase(0, 1);
  while (section.size() > 1 && section[section.size() - 2] == '\n') section.pop_back();
  return section;
}

}  // namespace

TEST_CASE("docs/architecture.md shows the state machine's transition table", "[docs]") {
  const std::string expected = recorder::core::transition_table_markdown();
  INFO("replace the table in docs/architecture.md with:\n" << expected);
  CHECK(marked_section("docs/architecture.md", "transitions") == expected);
}

TEST_CASE("docs/operations.md lists every configuration key with its default", "[docs]") {
  const std::string expected = recorder::core::config_reference_markdown();
  INFO("replace the table in docs/operations.md with (recorderd --list-keys):\n" << expected);
  CHECK(marked_section("docs/operations.md", "config-keys") == expected);
}

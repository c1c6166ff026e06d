#include "recorder/core/domain/recording.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/time_text.hpp"
#include "recorder/core/ports/cluster_store.hpp"

namespace recorder::core {
namespace {

template <typename E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

template <typename E, std::size_t N>
std::string_view name_of(const Names<E, N>& names, E v) {
  for (const auto& [value, name] : names) {
    if (value == v) return name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
std::optional<E> parse(const Names<E, N>& names, std::string_view s) {
  for (const auto& [value, name] : names) {
    if (name == s) return value;
  }
  return std::nullopt;
}

constexpr Names<SourceKind, 3> kSourceKinds{{
    {SourceKind::stream, "stream"}, {SourceKind::agent, "agent"}, {SourceKind::capture, "capture"}}};

constexpr Names<State, 10> kStates{{{State::starting, "starting"},
                                    {State::recording, "recording"},
                                    {State::interrupted, "interrupted"},
                                    {State::stale, "stale"},
                                    {State::stopping, "stopping"},
                                    {State::finalizing, "finalizing"},
                                    {State::processing, "processing"},
                                    {State::ready, "ready"},
                                    {State::failed, "failed"},
                                    {State::deleted, "deleted"}}};

constexpr Names<StopReason, 11> kStopReasons{{{StopReason::none, "none"},
                                              {StopReason::completed, "completed"},
                                              {StopReason::manual, "manual"},
                                              {StopReason::premature, "premature"},
                                              {StopReason::error, "error"},
                                              {StopReason::automatic_limit, "automatic_limit"},
                                              {StopReason::size_limit, "size_limit"},
                                              {StopReason::disconnect, "disconnect"},
                                              {StopReason::stale, "stale"},
                                              {StopReason::storage_critical, "storage_critical"},
                                              {StopReason::shutdown, "shutdown"}}};

constexpr Names<Outcome, 5> kOutcomes{{{Outcome::recording, "recording"},
                                       {Outcome::completed, "completed"},
                                       {Outcome::failed, "failed"},
                                       {Outcome::stopped_premature, "stopped_premature"},
                                       {Outcome::stopped_early, "stopped_early"}}};

constexpr Names<FileRole, 3> kFileRoles{
    {{FileRole::original, "original"}, {FileRole::converted, "converted"}, {FileRole::segment, "segment"}}};

constexpr Names<CommandKind, 2> kCommandKinds{{{CommandKind::stop, "stop"}, {CommandKind::release, "release"}}};

constexpr Names<Errc, 21> kErrcs{{{Errc::invalid_argument, "invalid_argument"},
                                  {Errc::not_found, "not_found"},
                                  {Errc::not_started, "not_started"},
                                  {Errc::invalid_state, "invalid_state"},
                                  {Errc::id_taken, "id_taken"},
                                  {Errc::device_busy, "device_busy"},
                                  {Errc::storage_low, "storage_low"},
                                  {Errc::storage_critical, "storage_critical"},
                                  {Errc::storage_unavailable, "storage_unavailable"},
                                  {Errc::chunk_too_large, "chunk_too_large"},
                                  {Errc::total_size_exceeded, "total_size_exceeded"},
                                  {Errc::duration_exceeded, "duration_exceeded"},
                                  {Errc::index_out_of_range, "index_out_of_range"},
                                  {Errc::storage_full, "storage_full"},
                                  {Errc::io_error, "io_error"},
                                  {Errc::agent_unavailable, "agent_unavailable"},
                                  {Errc::unavailable, "unavailable"},
                                  {Errc::lease_lost, "lease_lost"},
                                  {Errc::unauthenticated, "unauthenticated"},
                                  {Errc::forbidden, "forbidden"},
                                  {Errc::internal, "internal"}}};

}  // namespace

std::string_view to_string(SourceKind v) { return name_of(kSourceKinds, v); }
std::string_view to_string(State v) { return name_of(kStates, v); }
std::string_view to_string(StopReason v) { return name_of(kStopReasons, v); }
std::string_view to_string(Outcome v) { return name_of(kOutcomes, v); }
std::string_view to_string(FileRole v) { return name_of(kFileRoles, v); }
std::string_view to_string(Errc v) { return name_of(kErrcs, v); }
std::optional<SourceKind> parse_source_kind(std::string_view s) { return parse(kSourceKinds, s); }
std::optional<State> parse_state(std::string_view s) { return parse(kStates, s); }
std::optional<StopReason> parse_stop_reason(std::string_view s) { return parse(kStopReasons, s); }
std::optional<Errc> parse_errc(std::string_view s) { return parse(kErrcs, s); }
std::string_view to_string(CommandKind v) { return name_of(kCommandKinds, v); }
std::optional<CommandKind> parse_command_kind(std::string_view s) { return parse(kCommandKinds, s); }
std::optional<Outcome> parse_outcome(std::string_view s) { return parse(kOutcomes, s); }

bool is_terminal(State s) { return s == State::ready || s == State::failed || s == State::deleted; }

bool is_live(State s) {
  return s == State::starting || s == State::recording || s == State::interrupted ||
         s == State::stale || s == State::stopping;
}

std::string agent_key(const Metadata& m) { return m.organizer + ":" + m.subject + ":" + m.start_time; }

Result<std::string> normalize_start_time(std::string_view text) {
  auto t = parse_iso8601(text);
  if (!t) return fail(Errc::invalid_argument, "start_time: " + t.error().message);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t->time_since_epoch()).count() % 1000000;
  std::string out = format_utc(*t);
  if (us != 0) {
    out.pop_back();  // the Z
    std::string fraction = fmt::format("{:06}", us < 0 ? us + 1000000 : us);
    while (fraction.back() == '0') fraction.pop_back();
    out += "." + fraction + "Z";
  }
  return out;
}

std::size_t segment_count(const Recording& r) {
  return static_cast<std::size_t>(std::ranges::count(r.files, FileRole::segment, &MediaFile::role));
}

Result<void> check_recording_id(std::string_view id) {
  if (id.empty()) return fail(Errc::invalid_argument, "a recording id must not be empty");
  if (id.size() > kMaxRecordingIdBytes)
    return fail(Errc::invalid_argument, fmt::format("a recording id is at most {} bytes; this one has {}",
                                                    kMaxRecordingIdBytes, id.size()));
  const auto control = std::ranges::find_if(id, [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
  if (control != id.end())
    return fail(Errc::invalid_argument,
                fmt::format("a recording id must not contain control characters (byte {} is 0x{:02x})",
                            control - id.begin(), static_cast<unsigned char>(*control)));
  return ok();
}

std::string file_safe_id(const RecordingId& id) {
  const bool safe = !id.empty() && id.size() <= 128 && id.front() != '.' &&
                    std::ranges::all_of(id, [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                             c == '.' || c == '_' || c == '-';
                    });
  if (safe) return id;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "%";
  for (char c : id.substr(0, 120)) {
    const auto b = static_cast<unsigned char>(c);
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  if (id.size() > 120) {
    std::uint32_t sum = 2166136261u;  // FNV-1a of the whole id
    for (char c : id) sum = (sum ^ static_cast<unsigned char>(c)) * 16777619u;
    out += '~';
    for (int shift = 28; shift >= 0; shift -= 4) out += hex[(sum >> shift) & 15];
  }
  return out;
}

const MediaFile* main_file(const Recording& r) {
  for (const auto role : {FileRole::converted, FileRole::original, FileRole::segment}) {
    for (const auto& f : r.files) {
      if (f.role == role) return &f;
    }
  }
  return nullptr;
}

bool is_email_address(std::string_view text) {
  const auto at = text.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < text.size() && text.find('@', at + 1) == std::string_view::npos &&
         text.size() <= 254 && text.find_first_of(" <>,;\"\r\n\t") == std::string_view::npos;
}

}  // namespace recorder::core

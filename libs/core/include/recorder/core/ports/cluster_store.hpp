#pragma once

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"

namespace recorder::core {

// This instance, as it joins the cluster.
struct InstanceInfo {
  std::string id;           // cluster.instance_id, or generated at start
  std::string incarnation;  // random per process: tells a restarted instance from a duplicate
  std::string address;      // where it listens (host:port), for people and for /api/cluster
  std::vector<std::string> devices;  // the capture devices it can reach
  Duration lease = std::chrono::seconds{15};  // cluster.lease_seconds: how long a lease runs unrenewed
};

// A recording's lease this instance holds, as the store renewed it.
struct HeldLease {
  RecordingId id;
  std::uint64_t epoch = 0;
  bool operator==(const HeldLease&) const = default;
};

// One instance as the cluster table shows it.
struct InstanceStatus {
  std::string id;
  std::string address;
  std::vector<std::string> devices;
  WallTime started_at{};
  WallTime heartbeat_at{};
  double heartbeat_age_seconds = 0;  // by the database's clock
  bool alive = false;                // heartbeat within a lease's length, and not stopped
  bool stopped = false;              // left cleanly
  std::uint64_t leases = 0;          // unfinished recordings it holds
};

struct ClusterView {
  std::vector<InstanceStatus> instances;  // by id
  std::string leader;                     // empty: nobody leads now
  std::uint64_t leader_epoch = 0;
  double leader_lease_left_seconds = 0;
  std::uint64_t unowned = 0;              // unfinished recordings whose lease expired
};

// What one instance asks of the instance that holds a live recording.
enum class CommandKind {
  stop,     // stop it (argument: the stop reason), as a stop through the holder would
  release,  // hand it over to the asker: the holder steps down and passes the lease on
};
std::string_view to_string(CommandKind kind);
std::optional<CommandKind> parse_command_kind(std::string_view name);

struct ClusterCommand {
  std::uint64_t seq = 0;  // the store's number for it
  std::string from;       // the asking instance
  CommandKind kind = CommandKind::stop;
  RecordingId recording;
  std::uint64_t epoch = 0;  // the holder's lease epoch as the asker read it
  std::string argument;
};

// Where several recorderd instances on one database agree who holds what (Postgres; see
// docs/adr/0017-cluster-leases.md). Lease times are the database's clock. Failures are
// values: Errc::unavailable when the database is down, Errc::id_taken when another live
// process uses this instance's id. Thread-safe.
class ClusterStore {
 public:
  virtual ~ClusterStore() = default;
  // Registers this instance; refused while another process with the same id beats.
  [[nodiscard]] virtual Result<void> join(const InstanceInfo& self) = 0;
  // The instance's heartbeat.
  [[nodiscard]] virtual Result<void> heartbeat() = 0;
  // Extends every lease this instance holds by a lease's length; returns them with their
  // epochs. A lease another instance took is not among them.
  [[nodiscard]] virtual Result<std::vector<HeldLease>> renew_leases() = 0;
  // Takes over up to `limit` unfinished recordings whose lease expired (captures only on
  // the devices this instance reaches) and, with
  // `own_too`, those held under this instance's id by an earlier process. The epoch
  // rises, the lease is this instance's. Rows another claimer has locked are skipped.
  [[nodiscard]] virtual Result<std::vector<Recording>> claim_expired(bool own_too, std::size_t limit) = 0;
  // Takes over one unfinished recording when nobody holds it (no lease, or it expired; a
  // lease this instance holds is not taken again):
  // the recording as claimed; std::nullopt when it is finished or unknown;
  // Errc::lease_lost naming the holder while another instance's lease runs.
  [[nodiscard]] virtual Result<std::optional<Recording>> claim(const RecordingId& id) = 0;
  // Takes or keeps the leader's lease; true while this instance leads.
  [[nodiscard]] virtual Result<bool> lead() = 0;
  // A clean stop: every lease and the leadership expire now; the instance is marked stopped.
  [[nodiscard]] virtual Result<void> leave() = 0;
  [[nodiscard]] virtual Result<ClusterView> view() = 0;

  // A handover: the lease of one recording this instance holds under `epoch` passes to
  // instance `to` (epoch + 1, a fresh lease). Errc::lease_lost when this instance does not
  // hold it so.
  [[nodiscard]] virtual Result<void> hand_over(const RecordingId& id, std::uint64_t epoch, const std::string& to) = 0;

  // Commands between instances (docs/adr/0018-cluster-commands.md). The table is the
  // truth; the store also wakes the addressee (Postgres: NOTIFY), who polls as well.
  // Queues a command for instance `to`, unanswered after `expires`: its number.
  // Errc::unavailable, without queueing, when `to` is stopped or missed two heartbeats.
  [[nodiscard]] virtual Result<std::uint64_t> send(const std::string& to, const ClusterCommand& command,
                                                   Duration expires) = 0;
  // The unanswered, unexpired commands addressed to this instance, oldest first.
  [[nodiscard]] virtual Result<std::vector<ClusterCommand>> commands() = 0;
  // Answers command `seq` (and wakes its sender).
  [[nodiscard]] virtual Result<void> answer(const ClusterCommand& command, const Result<void>& outcome) = 0;
  // The answer to a command this instance sent, once there is one (the command is then
  // forgotten); std::nullopt while it is unanswered.
  [[nodiscard]] virtual Result<std::optional<Result<void>>> outcome(std::uint64_t seq) = 0;
};

// What the recording service asks before it writes a recording's media: whether this
// instance still holds its leases (renewed within the lease's length by the monotonic
// clock). An instance that was paused past its lease writes nothing until it knows.
class LeaseGuard {
 public:
  virtual ~LeaseGuard() = default;
  // This instance's id, which the leases of the recordings it creates name.
  virtual const std::string& instance() const = 0;
  // Errc::unavailable, saying why, when the leases are not known to be held now.
  [[nodiscard]] virtual Result<void> confirmed() const = 0;
  // Takes over one recording that nobody holds now (ClusterStore::claim), for a client
  // that resumes here what it recorded through another instance.
  [[nodiscard]] virtual Result<std::optional<Recording>> claim(const RecordingId& id) = 0;
  // Asks the instance that holds a live recording (`held.lease`) to run a command on it,
  // and waits for its answer (a third of a lease, 0.5 to 2 s): the answer, or
  // Errc::unavailable when the holder did not answer in time (paused, or cut off from the
  // database).
  [[nodiscard]] virtual Result<void> ask_holder(const Recording& held, CommandKind kind, std::string argument) = 0;
};

}  // namespace recorder::core

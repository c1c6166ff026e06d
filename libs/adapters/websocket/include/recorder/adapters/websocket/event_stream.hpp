#pragma once

// What /ws/events (the dashboard's live feed) needs from the listener, and what it offers.
// Nothing here names websocketpp; the feed itself lives with the REST API, which knows how
// recordings are shown (recorder/adapters/rest/event_feed.hpp).

#include <cstdint>
#include <memory>
#include <string>

namespace recorder::adapters::websocket {

// The connection's sending side. Thread-safe; sends are queued to the network thread.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void send_text(std::string text) = 0;
  // Closes the connection with a close frame saying why (4000: replaced by a newer
  // connection; 1000: a normal close); a no-op in tests.
  virtual void close(std::string reason, std::uint16_t code = 4000) {
    (void)reason;
    (void)code;
  }
};

// The server side of /ws/events. The listener calls it from the connection's strand; it
// sends to watchers from its own threads, through their Outbox (thread-safe).
class EventStream {
 public:
  virtual ~EventStream() = default;
  // A connection opened: it has a few seconds to sign in, else it is closed.
  virtual void opened(std::weak_ptr<Outbox> watcher) = 0;
  // It presents a token (any role may watch): it is sent its snapshot, then every notice
  // and a periodic tick; a bad token gets an error naming why, and the connection closes.
  virtual void sign_in(const std::weak_ptr<Outbox>& watcher, const std::string& token) = 0;
  // It closed (or the listener is stopping).
  virtual void closed(const Outbox* watcher) = 0;
};

}  // namespace recorder::adapters::websocket

#include "recorder/testing/ws_client.hpp"

#include <curl/curl.h>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace recorder::testing {

using Client = websocketpp::client<websocketpp::config::asio_client>;

struct WsClient::Impl {
  Client client;
  websocketpp::connection_hdl hdl;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<WsMessage> inbox;
  bool open = false;
  bool done = false;  // closed or failed
  int close_code = 0;
  std::string reason;

  ~Impl() {
    client.stop_perpetual();
    if (open && !done) {
      websocketpp::lib::error_code ec;
      client.close(hdl, websocketpp::close::status::going_away, "test over", ec);
    }
    client.stop();
    if (thread.joinable()) thread.join();
  }
};

WsClient::WsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsClient::~WsClient() = default;

std::unique_ptr<WsClient> WsClient::connect(const std::string& url, std::string& error,
                                            std::chrono::milliseconds timeout,
                                            const std::vector<std::pair<std::string, std::string>>& headers) {
  auto impl = std::make_unique<Impl>();
  Impl& i = *impl;
  i.client.clear_access_channels(websocketpp::log::alevel::all);
  i.client.clear_error_channels(websocketpp::log::elevel::all);
  i.client.init_asio();
  i.client.set_max_message_size(64 * 1024 * 1024);
  i.client.set_open_handler([&i](websocketpp::connection_hdl) {
    std::lock_guard lock(i.mutex);
    i.open = true;
    i.changed.notify_all();
  });
  const auto finished = [&i](websocketpp::connection_hdl h) {
    websocketpp::lib::error_code ec;
    auto con = i.client.get_con_from_hdl(h, ec);
    std::lock_guard lock(i.mutex);
    if (!ec) {
      i.close_code = con->get_remote_close_code();
      i.reason = con->get_remote_close_reason();
      if (i.reason.empty()) i.reason = con->get_ec().message();
      if (!i.open && con->get_response_code() != websocketpp::http::status_code::uninitialized)
        i.reason += " (HTTP " + std::to_string(static_cast<int>(con->get_response_code())) + ")";
    }
    i.done = true;
    i.changed.notify_all();
  };
  i.client.set_close_handler(finished);
  i.client.set_fail_handler(finished);
  i.client.set_message_handler([&i](websocketpp::connection_hdl, Client::message_ptr m) {
    std::lock_guard lock(i.mutex);
    i.inbox.push_back({m->get_opcode() == websocketpp::frame::opcode::text, m->get_payload()});
    i.changed.notify_all();
  });
  websocketpp::lib::error_code ec;
  auto con = i.client.get_connection(url, ec);
  if (ec) {
    error = ec.message();
    return nullptr;
  }
  for (const auto& [name, value] : headers) con->append_header(name, value);
  i.hdl = con->get_handle();
  i.client.connect(con);
  i.thread = std::thread([&i] { i.client.run(); });
  std::unique_lock lock(i.mutex);
  if (!i.changed.wait_for(lock, timeout, [&] { return i.open || i.done; }) || !i.open) {
    error = i.done ? "connection failed: " + i.reason : "connection timed out";
    lock.unlock();
    return nullptr;
  }
  lock.unlock();
  return std::unique_ptr<WsClient>(new WsClient(std::move(impl)));
}

void WsClient::send_text(const std::string& text) {
  websocketpp::lib::error_code ec;
  impl_->client.send(impl_->hdl, text, websocketpp::frame::opcode::text, ec);
}

void WsClient::send_binary(const std::string& bytes) {
  websocketpp::lib::error_code ec;
  impl_->client.send(impl_->hdl, bytes, websocketpp::frame::opcode::binary, ec);
}

std::optional<WsMessage> WsClient::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  if (!impl_->changed.wait_for(lock, timeout, [&] { return !impl_->inbox.empty(); })) return std::nullopt;
  WsMessage m = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  return m;
}

std::optional<std::string> WsClient::next_containing(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()));
    if (!m) return std::nullopt;
    if (m->text && m->payload.find(needle) != std::string::npos) return m->payload;
  }
  return std::nullopt;
}

void WsClient::close() {
  websocketpp::lib::error_code ec;
  impl_->client.close(impl_->hdl, websocketpp::close::status::normal, "bye", ec);
  wait_closed();
}

void WsClient::drop() {
  websocketpp::lib::error_code ec;
  auto con = impl_->client.get_con_from_hdl(impl_->hdl, ec);
  if (ec) return;
  std::promise<void> done;
  asio::post(impl_->client.get_io_service(), [&] {
    asio::error_code ignored;
    con->get_raw_socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    con->get_raw_socket().close(ignored);
    done.set_value();
  });
  done.get_future().wait();
  wait_closed(std::chrono::seconds(2));
}

std::optional<int> WsClient::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  if (!impl_->changed.wait_for(lock, timeout, [&] { return impl_->done; })) return std::nullopt;
  return impl_->close_code;
}

std::string WsClient::close_reason() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->reason;
}

namespace {
std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
std::size_t all_headers(char* data, std::size_t size, std::size_t n, void* out) {
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    static_cast<std::vector<std::pair<std::string, std::string>>*>(out)->emplace_back(std::move(name), std::move(value));
  }
  return size * n;
}
}  // namespace

std::string HttpAnswer::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

HttpAnswer http_request(const std::string& method, const std::string& url, const std::vector<std::string>& headers,
                        const std::string& body) {
  HttpAnswer r;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, all_headers);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  if (list) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return r;
}

HttpResult http_get(const std::string& url, const std::string& range) {
  std::vector<std::string> headers;
  if (!range.empty()) headers.push_back("Range: " + range);
  auto a = http_request("GET", url, headers);
  return HttpResult{a.status, std::move(a.body), a.header("content-range"), std::move(a.error)};
}

}  // namespace recorder::testing

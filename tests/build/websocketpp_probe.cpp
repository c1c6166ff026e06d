// websocketpp's server on standalone Asio, compiled as C++23 through the header overlay.
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <string>

std::string websocketpp_probe() {
  websocketpp::server<websocketpp::config::asio> server;
  server.clear_access_channels(websocketpp::log::alevel::all);
  server.init_asio();
  server.set_max_message_size(1024 * 1024);
  return std::string("websocketpp ") + websocketpp::user_agent;
}

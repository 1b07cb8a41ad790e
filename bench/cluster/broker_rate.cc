// The physical limit under the cluster: the round-trip rate of the cluster's own broker setup
// (mosquitto started by oak::cluster::Broker with Oak's configuration), one QoS 1 publisher to one
// subscriber over loopback through MqttClient, the same path node reports take. Prints JSON.
//
//   oak_bench_broker_rate [--messages 200000] [--size 200] [--port 0]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "cluster/broker.h"
#include "common/mqtt.h"

namespace asio = boost::asio;

namespace {

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool RunUntil(asio::io_context& io, const std::function<bool()>& cond, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Round-trip message rate of the cluster's broker"};
  int messages = 200'000, size = 200, qos = 1, inflight = 10'000, broker_inflight = 10'000;
  std::string dir = "/tmp/oak-bench-broker-" + std::to_string(::getpid());
  app.add_option("--messages", messages);
  app.add_option("--size", size, "Payload bytes (a node report is about 200)");
  app.add_option("--qos", qos, "0 or 1 (Oak uses 1)");
  app.add_option("--dir", dir, "Scratch directory for the broker's files");
  app.add_option("--inflight", inflight, "QoS 1 messages each client may have unacknowledged");
  app.add_option("--broker-inflight", broker_inflight, "The broker's max_inflight_messages");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  oak::cluster::BrokerOptions bo;
  bo.data_dir = dir;
  bo.port = FreePort();
  bo.admin_password = "bench-admin";
  bo.max_inflight = broker_inflight;
  oak::cluster::Broker broker(io, bo);
  if (auto s = broker.Start(); !s.ok()) {
    std::fprintf(stderr, "broker: %s\n", s.message().c_str());
    return 1;
  }
  oak::MqttOptions mo;
  mo.port = bo.port;
  mo.username = bo.admin_user;
  mo.password = bo.admin_password;
  mo.max_inflight = inflight;
  int received = 0, connected = 0;
  oak::MqttClient sub(io.get_executor()), pub(io.get_executor());
  sub.OnMessage([&](const std::string&, const std::string&) { ++received; });
  sub.OnConnect([&](bool ok, const std::string&) { connected += ok; });
  pub.OnConnect([&](bool ok, const std::string&) { connected += ok; });
  (void)sub.Subscribe("bench/#", qos);
  mo.client_id = "bench-sub";
  (void)sub.Connect(mo);
  mo.client_id = "bench-pub";
  (void)pub.Connect(mo);
  if (!RunUntil(io, [&] { return connected == 2; }, std::chrono::seconds(10))) return 1;
  io.run_for(std::chrono::milliseconds(200));  // SUBACK

  std::string payload(static_cast<size_t>(size), 'x');
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < messages; ++i) (void)pub.Publish("bench/node/information", payload, qos);
  bool all = RunUntil(io, [&] { return received >= messages; }, std::chrono::seconds(120));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sub.Disconnect();
  pub.Disconnect();
  broker.Stop();
  std::filesystem::remove_all(dir);
  nlohmann::json out{{"messages", messages}, {"received", received}, {"payload_bytes", size}, {"seconds", secs},
                     {"qos", qos}, {"inflight", inflight}, {"round_trip_msgs_per_s", received / secs}, {"complete", all}};
  std::printf("%s\n", out.dump().c_str());
  return all ? 0 : 1;
}

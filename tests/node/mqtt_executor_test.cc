// MqttClient with MqttDriver::kExecutor (the driver every node agent uses) against a real
// mosquitto: bursts larger than the socket buffers, reconnects, a broker that is down at first,
// descriptors numbered above FD_SETSIZE, and libmosquitto's wake-up pair.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include <boost/asio/executor_work_guard.hpp>

#include "cluster/broker.h"
#include "common/mqtt.h"
#include "common/mqtt_state.h"
#include "support/process.h"

namespace oak {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Peer {
  Peer(asio::io_context& io, uint16_t port, const std::string& id) : client(io.get_executor()) {
    opts.port = port;
    opts.client_id = id;
    opts.username = "admin";
    opts.password = "admin-secret";
    opts.reconnect_max_s = 1;
    opts.driver = MqttDriver::kExecutor;
    client.OnMessage([this](const std::string& t, const std::string& p) { got.emplace_back(t, p); });
    client.OnConnect([this](bool ok, const std::string&) { connects += ok; });
  }
  MqttClient client;
  MqttOptions opts;
  std::vector<std::pair<std::string, std::string>> got;
  int connects = 0;
};

class MqttExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bo_.data_dir = dir_.path();
    bo_.port = oak::testing::FreePort();
    bo_.admin_user = "admin";
    bo_.admin_password = "admin-secret";
  }
  void StartBroker() {
    broker_ = std::make_unique<cluster::Broker>(io_, bo_);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  bool Pump(const std::function<bool()>& cond, std::chrono::milliseconds t = 10s) {
    return oak::testing::PumpUntil(io_, cond, t);
  }

  oak::testing::TempDir dir_{"mqtt-exec"};
  cluster::BrokerOptions bo_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<cluster::Broker> broker_;
};

TEST_F(MqttExecutorTest, BurstLargerThanTheSocketBuffersArrivesInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Peer sub(io_, bo_.port, "sub"), pub(io_, bo_.port, "pub");
  ASSERT_TRUE(sub.client.Subscribe("burst/#").ok());
  ASSERT_TRUE(sub.client.Connect(sub.opts).ok());
  ASSERT_TRUE(pub.client.Connect(pub.opts).ok());
  ASSERT_TRUE(Pump([&] { return sub.connects == 1 && pub.connects == 1; }));
  constexpr int kCount = 20000;
  const std::string body(1024, 'x');
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(pub.client.Publish("burst/" + std::to_string(i), body, 1).ok());
  ASSERT_TRUE(Pump([&] { return sub.got.size() == size_t{kCount}; }, 60s)) << sub.got.size();
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(sub.got[i].first, "burst/" + std::to_string(i));
  EXPECT_EQ(sub.client.Unsubscribe("burst/#").code(), Code::kOk);
}

TEST_F(MqttExecutorTest, WaitsForABrokerThatIsDownAndReconnectsAfterARestart) {
  Peer c(io_, bo_.port, "late");
  ASSERT_TRUE(c.client.Subscribe("t").ok());
  ASSERT_TRUE(c.client.Connect(c.opts).ok()) << "a broker that is down is not an error";
  oak::testing::PumpUntil(io_, [] { return false; }, 300ms);
  EXPECT_EQ(c.connects, 0);
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_TRUE(Pump([&] { return c.connects == 1; }, 15s));

  broker_->Stop();
  ASSERT_TRUE(Pump([&] { return !c.client.connected(); }));
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_TRUE(Pump([&] { return c.connects == 2; }, 15s));
  // The subscription was made again before OnConnect ran.
  Peer p(io_, bo_.port, "pub");
  ASSERT_TRUE(p.client.Connect(p.opts).ok());
  ASSERT_TRUE(Pump([&] { return p.connects == 1; }));
  ASSERT_TRUE(p.client.Publish("t", "again", 1).ok());
  ASSERT_TRUE(Pump([&] { return !c.got.empty(); }));
  EXPECT_EQ(c.got.back().second, "again");
}

TEST_F(MqttExecutorTest, WorksWithDescriptorsAboveFdSetSize) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  // Push every new descriptor above 1024, where select()-based loops (libmosquitto's own) fail.
  std::vector<int> filler;
  for (int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC); fd >= 0 && fd < 1100;
       fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC))
    filler.push_back(fd);
  {
    Peer a(io_, bo_.port, "high-a"), b(io_, bo_.port, "high-b");
    ASSERT_TRUE(a.client.Subscribe("high").ok());
    ASSERT_TRUE(a.client.Connect(a.opts).ok());
    ASSERT_TRUE(b.client.Connect(b.opts).ok());
    ASSERT_TRUE(Pump([&] { return a.connects == 1 && b.connects == 1; }));
    ASSERT_TRUE(b.client.Publish("high", "ok", 1).ok());
    EXPECT_TRUE(Pump([&] { return a.got.size() == 1; }));
  }
  for (int fd : filler) ::close(fd);
}

TEST_F(MqttExecutorTest, FindsLibmosquittosWakePairOnly) {
  int guess = mqtt_internal::GuessWakePair().first;
  mosquitto* m = mosquitto_new("x", true, nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(mqtt_internal::ConfirmWakeFd(guess), guess);
  mosquitto_destroy(m);
  EXPECT_EQ(mqtt_internal::ConfirmWakeFd(guess), -1) << "closed by mosquitto_destroy";
  int file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(mqtt_internal::ConfirmWakeFd(file), -1);
  ::close(file);
  int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(mqtt_internal::ConfirmWakeFd(tcp), -1);
  ::close(tcp);
}

bool IsCharDevice(int fd) {
  struct stat sb {};
  return ::fstat(fd, &sb) == 0 && S_ISCHR(sb.st_mode);
}

TEST_F(MqttExecutorTest, PointsLibmosquittosWakePairAtDevNull) {
  auto guess = mqtt_internal::GuessWakePair();
  ASSERT_GE(guess.first, 0);
  ASSERT_GT(guess.second, guess.first);
  mosquitto* m = mosquitto_new("x", true, nullptr);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(mqtt_internal::SilenceWakePair(guess));
  EXPECT_TRUE(IsCharDevice(guess.first));
  EXPECT_TRUE(IsCharDevice(guess.second));
  EXPECT_EQ(mqtt_internal::ConfirmWakeFd(guess.first), -1) << "no socket left to drain";
  mosquitto_destroy(m);
  EXPECT_EQ(::fcntl(guess.first, F_GETFD), -1) << "libmosquitto still closes its numbers";
  EXPECT_EQ(::fcntl(guess.second, F_GETFD), -1);

  // Anything but a fresh connected pair is left alone.
  int file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_FALSE(mqtt_internal::SilenceWakePair({file, tcp}));
  int a[2], b[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
  EXPECT_FALSE(mqtt_internal::SilenceWakePair({a[0], b[1]})) << "not each other's peer";
  EXPECT_FALSE(IsCharDevice(a[0]));
  EXPECT_FALSE(IsCharDevice(b[1]));
  for (int fd : {file, tcp, a[0], a[1], b[0], b[1]}) ::close(fd);
}

// A connected executor client holds its TCP socket and our duplicate of it, nothing else.
TEST_F(MqttExecutorTest, AClientHoldsNoWakeUpSockets) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  auto sockets = [] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      n += std::filesystem::read_symlink(e.path(), ec).string().rfind("socket:", 0) == 0;
    }
    return n;
  };
  const int before = sockets();
  {
    Peer a(io_, bo_.port, "fds-a");
    ASSERT_TRUE(a.client.Connect(a.opts).ok());
    ASSERT_TRUE(Pump([&] { return a.connects == 1; }));
    EXPECT_EQ(sockets() - before, 2);
    ASSERT_TRUE(a.client.Subscribe("fds").ok());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(a.client.Publish("fds", "x", 1).ok());
    EXPECT_TRUE(Pump([&] { return a.got.size() == 100; }));
  }
}

TEST_F(MqttExecutorTest, DisconnectSendsNoWillAndDestroyingInsideACallbackIsSafe) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Peer watcher(io_, bo_.port, "watcher");
  ASSERT_TRUE(watcher.client.Subscribe("will/#").ok());
  ASSERT_TRUE(watcher.client.Connect(watcher.opts).ok());
  auto c = std::make_unique<Peer>(io_, bo_.port, "leaver");
  c->opts.will = MqttWill{"will/leaver", "gone", 1, false};
  ASSERT_TRUE(c->client.Connect(c->opts).ok());
  ASSERT_TRUE(Pump([&] { return watcher.connects == 1 && c->connects == 1; }));
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(c->client.Publish("noise", std::string(4096, 'n'), 1).ok());
  c->client.Disconnect();
  ASSERT_TRUE(watcher.client.Publish("will/marker", "m", 1).ok());
  ASSERT_TRUE(Pump([&] { return !watcher.got.empty() && watcher.got.back().first == "will/marker"; }));
  for (const auto& [t, p] : watcher.got) EXPECT_NE(t, "will/leaver");

  // A client that destroys itself from its own connect callback.
  auto self_destruct = std::make_unique<Peer>(io_, bo_.port, "brief");
  bool gone = false;
  self_destruct->client.OnConnect([&](bool, const std::string&) {
    self_destruct.reset();
    gone = true;
  });
  ASSERT_TRUE(self_destruct->client.Connect(self_destruct->opts).ok());
  ASSERT_TRUE(Pump([&] { return gone; }));
  oak::testing::PumpUntil(io_, [] { return false; }, 1500ms);  // its timers and socket waits end quietly
}

}  // namespace
}  // namespace oak

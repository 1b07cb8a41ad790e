// MqttClient against a real mosquitto on loopback (anonymous, ephemeral port). The io_context is
// pumped on the test's own thread, so "callbacks run on the owner's thread" is checked directly.
#include "common/mqtt.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <thread>

#include "support/process.h"

namespace oak {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::Process;
using testing::FreePort;
using testing::TempDir;


bool PortAnswers(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Records what a client saw; only touched on the test thread (through the pumped io_context).
struct Probe {
  std::vector<std::pair<std::string, std::string>> msgs;
  int connects = 0, refusals = 0, unexpected_drops = 0;
  bool wrong_thread = false;
  std::thread::id owner = std::this_thread::get_id();

  void Attach(MqttClient& c) {
    c.OnMessage([this](const std::string& t, const std::string& p) {
      wrong_thread |= std::this_thread::get_id() != owner;
      msgs.emplace_back(t, p);
    });
    c.OnConnect([this](bool ok, const std::string&) {
      wrong_thread |= std::this_thread::get_id() != owner;
      ok ? ++connects : ++refusals;
    });
    c.OnDisconnect([this](bool unexpected) {
      wrong_thread |= std::this_thread::get_id() != owner;
      if (unexpected) ++unexpected_drops;
    });
  }
  bool Got(const std::string& topic) const {
    for (auto& m : msgs) if (m.first == topic) return true;
    return false;
  }
};

class MqttTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n"
                                           << "persistence false\n";
    StartBroker();
  }
  void StartBroker() {
    broker_ = std::make_unique<Process>(std::vector<std::string>{"/usr/sbin/mosquitto", "-c", dir_ / "mosquitto.conf"},
                                        dir_ / "mosquitto.log");
    ASSERT_TRUE(testing::WaitFor([&] { return PortAnswers(port_); })) << broker_->Log();
  }
  MqttOptions Opts(const std::string& id) {
    MqttOptions o;
    o.port = port_;
    o.client_id = id;
    o.keepalive_s = 5;
    return o;
  }
  bool Pump(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
    return oak::testing::PumpUntil(io_, cond, timeout);
  }
  void PumpFor(std::chrono::milliseconds d) { Pump([] { return false; }, d); }

  TempDir dir_{"mqtt"};
  uint16_t port_ = 0;
  std::unique_ptr<Process> broker_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
};

TEST_F(MqttTest, PublishSubscribeQos0And1WithWildcards) {
  MqttClient sub(io_.get_executor()), pub(io_.get_executor());
  Probe ps, pp;
  ps.Attach(sub);
  pp.Attach(pub);
  ASSERT_TRUE(sub.Subscribe("nodes/+/information", 1).ok());
  ASSERT_TRUE(sub.Subscribe("jobs/#", 0).ok());
  ASSERT_TRUE(sub.Connect(Opts("sub")).ok());
  ASSERT_TRUE(pub.Connect(Opts("pub")).ok());
  ASSERT_TRUE(Pump([&] { return ps.connects == 1 && pp.connects == 1; }));
  PumpFor(100ms);  // SUBACK

  ASSERT_TRUE(pub.Publish("nodes/n1/job", "not matched", 1).ok());
  ASSERT_TRUE(pub.Publish("nodes/n1/information", R"({"cpu":1})", 1).ok());
  ASSERT_TRUE(pub.Publish("jobs/a/b", "q0", 0).ok());
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(pub.Publish("jobs/bulk", std::to_string(i), 1).ok());
  ASSERT_TRUE(Pump([&] { return ps.msgs.size() >= 502; })) << ps.msgs.size();
  EXPECT_EQ(ps.msgs[0], (std::pair<std::string, std::string>{"nodes/n1/information", R"({"cpu":1})"}));
  EXPECT_TRUE(ps.Got("jobs/a/b"));
  EXPECT_FALSE(ps.Got("nodes/n1/job"));  // same publisher, so it would have arrived first
  EXPECT_EQ(ps.msgs.back().second, "499");  // QoS 1 from one publisher keeps its order
  EXPECT_FALSE(ps.wrong_thread);
  EXPECT_TRUE(sub.connected());

  ASSERT_TRUE(sub.Unsubscribe("jobs/#").ok());
  PumpFor(100ms);
  ASSERT_TRUE(pub.Publish("jobs/late", "x", 1).ok());
  ASSERT_TRUE(pub.Publish("nodes/n2/information", "marker", 1).ok());
  ASSERT_TRUE(Pump([&] { return ps.Got("nodes/n2/information"); }));
  EXPECT_FALSE(ps.Got("jobs/late"));
}

TEST_F(MqttTest, RejectsBadInputAndReportsDisconnectedState) {
  MqttClient c(io_.get_executor());
  EXPECT_EQ(c.Subscribe("a/#/b").code(), Code::kInvalid);
  EXPECT_EQ(c.Publish("a", "b", 0).code(), Code::kUnavailable);
  MqttOptions o = Opts("");
  o.clean_session = false;
  EXPECT_EQ(c.Connect(o).code(), Code::kInvalid);
  EXPECT_FALSE(c.connected());
}

TEST_F(MqttTest, LastWillIsPublishedWhenTheClientProcessDies) {
  // Fork before any client thread exists; the child waits on a pipe until the watcher listens.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    char b;
    if (::read(go[0], &b, 1) != 1) ::_exit(1);
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    MqttClient c(io.get_executor());
    MqttOptions o = Opts("doomed");
    o.will = MqttWill{"nodes/doomed/will", "gone", 1, false};
    c.OnConnect([&](bool ok, const std::string&) { c.Publish("nodes/doomed/hello", "hi", 1); });
    if (!c.Connect(o).ok()) ::_exit(2);
    io.run();
    ::_exit(0);
  }
  struct Reaper {  // SIGKILL + reap even if an assertion fails
    pid_t pid;
    ~Reaper() { ::kill(pid, SIGKILL); ::waitpid(pid, nullptr, 0); }
  } reaper{child};

  MqttClient watcher(io_.get_executor());
  Probe pw;
  pw.Attach(watcher);
  ASSERT_TRUE(watcher.Subscribe("nodes/+/#", 1).ok());
  ASSERT_TRUE(watcher.Connect(Opts("watcher")).ok());
  ASSERT_TRUE(Pump([&] { return pw.connects == 1; }));
  PumpFor(100ms);
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ASSERT_TRUE(Pump([&] { return pw.Got("nodes/doomed/hello"); }));
  EXPECT_FALSE(pw.Got("nodes/doomed/will"));
  ::kill(child, SIGKILL);
  ASSERT_TRUE(Pump([&] { return pw.Got("nodes/doomed/will"); }, 5s));

  // A clean Disconnect must not trigger the will.
  MqttClient polite(io_.get_executor());
  Probe pp;
  pp.Attach(polite);
  MqttOptions o = Opts("polite");
  o.will = MqttWill{"nodes/polite/will", "gone", 1, false};
  ASSERT_TRUE(polite.Connect(o).ok());
  ASSERT_TRUE(Pump([&] { return pp.connects == 1; }));
  polite.Disconnect();
  ASSERT_TRUE(watcher.Publish("nodes/watcher/marker", "m", 1).ok());
  ASSERT_TRUE(Pump([&] { return pw.Got("nodes/watcher/marker"); }));
  PumpFor(200ms);
  EXPECT_FALSE(pw.Got("nodes/polite/will"));
  ::close(go[0]);
  ::close(go[1]);
}

TEST_F(MqttTest, ReconnectsAndResubscribesAfterBrokerRestart) {
  MqttClient sub(io_.get_executor()), pub(io_.get_executor());
  Probe ps, pp;
  ps.Attach(sub);
  pp.Attach(pub);
  ASSERT_TRUE(sub.Subscribe("r/#", 1).ok());
  ASSERT_TRUE(sub.Connect(Opts("sub")).ok());
  ASSERT_TRUE(pub.Connect(Opts("pub")).ok());
  ASSERT_TRUE(Pump([&] { return ps.connects == 1 && pp.connects == 1; }));

  broker_->Stop(SIGKILL);
  ASSERT_TRUE(Pump([&] { return ps.unexpected_drops == 1 && pp.unexpected_drops == 1; }));
  EXPECT_FALSE(sub.connected());
  StartBroker();
  ASSERT_TRUE(Pump([&] { return ps.connects == 2 && pp.connects == 2; }, 20s));
  PumpFor(100ms);  // SUBACK of the re-made subscription
  ASSERT_TRUE(pub.Publish("r/after", "ok", 1).ok());
  ASSERT_TRUE(Pump([&] { return ps.Got("r/after"); }));
  EXPECT_FALSE(ps.wrong_thread || pp.wrong_thread);
}

TEST_F(MqttTest, ConnectsOnceTheBrokerComesUp) {
  broker_->Stop(SIGKILL);
  MqttClient c(io_.get_executor());
  Probe p;
  p.Attach(c);
  ASSERT_TRUE(c.Connect(Opts("early")).ok());  // nobody listens yet: not an error
  PumpFor(200ms);
  EXPECT_EQ(p.connects, 0);
  StartBroker();
  ASSERT_TRUE(Pump([&] { return p.connects == 1; }, 20s));
}

}  // namespace
}  // namespace oak

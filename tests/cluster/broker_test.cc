// The cluster's broker: a real mosquitto with Oak's password and ACL files, on an ephemeral port.
// Mosquitto drops unauthorised publishes and subscriptions silently, so the ACL checks assert on
// what subscribers actually receive, ordered behind a marker message or within a deadline.
#include "cluster/broker.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <cerrno>

#include "common/fs.h"
#include "common/mqtt.h"
#include "support/process.h"

namespace oak::cluster {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using oak::testing::Process;
using oak::testing::FreePort;
using oak::testing::TempDir;


bool Alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

// A client plus what it saw; all callbacks run on the test thread via Pump().
struct Peer {
  Peer(asio::io_context& io, uint16_t port, const std::string& user, const std::string& password) : client(io.get_executor()) {
    opts.port = port;
    opts.client_id = user + "-test";
    opts.username = user;
    opts.password = password;
    opts.reconnect_max_s = 2;
    client.OnMessage([this](const std::string& t, const std::string&) { topics.push_back(t); });
    client.OnConnect([this](bool ok, const std::string&) { ok ? ++connects : ++refusals; });
    client.OnDisconnect([this](bool unexpected) { drops += unexpected; });
  }
  bool Got(const std::string& t) const { return std::find(topics.begin(), topics.end(), t) != topics.end(); }
  bool GotPrefix(const std::string& p) const {
    return std::any_of(topics.begin(), topics.end(), [&](auto& t) { return t.rfind(p, 0) == 0; });
  }
  MqttClient client;
  MqttOptions opts;
  std::vector<std::string> topics;
  int connects = 0, refusals = 0, drops = 0;
};

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts_.data_dir = dir_.path();
    opts_.port = FreePort();
    opts_.admin_user = "admin";
    opts_.admin_password = "admin-secret";
  }
  void TearDown() override {
    // Stop by PID even if an assertion failed half-way; the Broker's destructor does the same.
    if (broker_) broker_->Stop();
  }
  bool Pump(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
    return oak::testing::PumpUntil(io_, cond, timeout);
  }
  void PumpFor(std::chrono::milliseconds d) { Pump([] { return false; }, d); }
  std::unique_ptr<Peer> Connect(const std::string& user, const std::string& pw) {
    auto p = std::make_unique<Peer>(io_, opts_.port, user, pw);
    EXPECT_TRUE(p->client.Connect(p->opts).ok());
    return p;
  }
  int RunClient(std::vector<std::string> argv) {
    Process p(std::move(argv), dir_ / "client.log");
    return p.Stop(0 /* just wait */, 10s);
  }

  TempDir dir_{"broker"};
  BrokerOptions opts_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<Broker> broker_;
};

TEST_F(BrokerTest, StartsWithAuthAndRefusesAnonymous) {
  broker_ = std::make_unique<Broker>(io_, opts_);
  ASSERT_TRUE(broker_->Start().ok());
  auto conf = ReadFile(broker_->conf_path());
  ASSERT_TRUE(conf.ok());
  EXPECT_NE(conf->find("allow_anonymous false"), std::string::npos);
  EXPECT_NE(conf->find("max_inflight_messages 10000"), std::string::npos);
  auto passwd = ReadFile(broker_->dir() + "/passwd");
  ASSERT_TRUE(passwd.ok());
  EXPECT_EQ(passwd->rfind("admin:$7$101$", 0), 0u) << *passwd;
  EXPECT_EQ(passwd->find("admin-secret"), std::string::npos);

  std::string port = std::to_string(opts_.port);
  int st = RunClient({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", "x", "-m", "y"});
  EXPECT_NE(st, 0) << "anonymous publish was accepted";
  st = RunClient({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-u", "admin", "-P", "admin-secret", "-t",
                  "x", "-m", "y"});
  EXPECT_EQ(st, 0) << "admin publish was refused";

  auto anon = Connect("", "");
  ASSERT_TRUE(Pump([&] { return anon->refusals > 0; }));
  EXPECT_EQ(anon->connects, 0);
  EXPECT_EQ(Broker(io_, opts_).Start().code(), Code::kConflict);  // port taken
}

TEST_F(BrokerTest, NodeAclConfinesEachNodeToItsSubtree) {
  broker_ = std::make_unique<Broker>(io_, opts_);
  ASSERT_TRUE(broker_->AddClient("A", "pw-a", NodeAcl("A")).ok());  // before Start: files only
  ASSERT_TRUE(broker_->Start().ok());
  ASSERT_TRUE(broker_->AddClient("B", "pw-b", NodeAcl("B")).ok());  // while running: SIGHUP
  EXPECT_EQ(broker_->AddClient("admin", "x", {}).code(), Code::kForbidden);
  EXPECT_EQ(broker_->AddClient("bad/name", "x", {}).code(), Code::kInvalid);

  auto admin = Connect("admin", "admin-secret");
  ASSERT_TRUE(admin->client.Subscribe("#").ok());
  auto a = Connect("A", "pw-a");
  ASSERT_TRUE(a->client.Subscribe("nodes/#").ok());  // broader than allowed: only A's own arrive
  auto b = Connect("B", "pw-b");
  ASSERT_TRUE(Pump([&] { return admin->connects && a->connects && b->connects; }));
  PumpFor(200ms);  // SUBACKs

  // A's publish outside its subtree is dropped; the marker from the same connection comes after it.
  ASSERT_TRUE(a->client.Publish("nodes/A/information", "{}").ok());
  ASSERT_TRUE(a->client.Publish("nodes/B/x", "forged").ok());
  ASSERT_TRUE(a->client.Publish("nodes/A/marker", "m").ok());
  ASSERT_TRUE(Pump([&] { return admin->Got("nodes/A/marker"); }));
  EXPECT_TRUE(admin->Got("nodes/A/information"));
  EXPECT_FALSE(admin->Got("nodes/B/x"));

  // B's own traffic reaches the admin but not A, even though A subscribed to nodes/#.
  ASSERT_TRUE(b->client.Publish("nodes/B/information", "{}").ok());
  ASSERT_TRUE(admin->client.Publish("nodes/A/control/deploy", "{}").ok());
  ASSERT_TRUE(Pump([&] { return admin->Got("nodes/B/information") && a->Got("nodes/A/control/deploy"); }));
  PumpFor(300ms);
  EXPECT_FALSE(a->GotPrefix("nodes/B/"));
  EXPECT_FALSE(b->GotPrefix("nodes/A/"));
}

TEST_F(BrokerTest, RemovedClientIsDisconnectedAndCannotReconnect) {
  broker_ = std::make_unique<Broker>(io_, opts_);
  ASSERT_TRUE(broker_->AddClient("A", "pw-a", NodeAcl("A")).ok());
  ASSERT_TRUE(broker_->Start().ok());
  auto a = Connect("A", "pw-a");
  ASSERT_TRUE(Pump([&] { return a->connects == 1; }));

  ASSERT_TRUE(broker_->RemoveClient("A").ok());
  EXPECT_EQ(broker_->RemoveClient("A").code(), Code::kNotFound);
  ASSERT_TRUE(Pump([&] { return a->drops >= 1; })) << "reload did not drop the removed user";
  ASSERT_TRUE(Pump([&] { return a->refusals >= 1; }));
  EXPECT_EQ(a->connects, 1);
  auto fresh = Connect("A", "pw-a");
  ASSERT_TRUE(Pump([&] { return fresh->refusals >= 1; }));
  EXPECT_EQ(fresh->connects, 0);
}

TEST_F(BrokerTest, RestartsAfterKillAndClientsReconnect) {
  opts_.restart_min = 100ms;
  broker_ = std::make_unique<Broker>(io_, opts_);
  ASSERT_TRUE(broker_->AddClient("A", "pw-a", NodeAcl("A")).ok());
  ASSERT_TRUE(broker_->Start().ok());
  auto admin = Connect("admin", "admin-secret");
  ASSERT_TRUE(admin->client.Subscribe("nodes/+/information").ok());
  auto a = Connect("A", "pw-a");
  ASSERT_TRUE(Pump([&] { return admin->connects == 1 && a->connects == 1; }));

  pid_t first = broker_->pid();
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(Pump([&] { return broker_->restarts() == 1 && broker_->pid() > 0; }));
  EXPECT_NE(broker_->pid(), first);
  ASSERT_TRUE(Pump([&] { return admin->connects == 2 && a->connects == 2; }, 20s));
  PumpFor(200ms);
  ASSERT_TRUE(a->client.Publish("nodes/A/information", "{}").ok());
  ASSERT_TRUE(Pump([&] { return admin->Got("nodes/A/information"); }));

  pid_t second = broker_->pid();
  broker_->Stop();
  EXPECT_EQ(broker_->pid(), -1);
  EXPECT_FALSE(Alive(second));
  PumpFor(500ms);  // the supervisor must not bring it back
  EXPECT_EQ(broker_->pid(), -1);
  EXPECT_FALSE(Alive(first));
}

TEST_F(BrokerTest, CredentialsSurviveARestartOfTheProcess) {
  {
    Broker first(io_, opts_);
    ASSERT_TRUE(first.Start().ok());
    ASSERT_TRUE(first.AddClient("B", "pw-b", NodeAcl("B")).ok());
  }  // destructor stops mosquitto
  broker_ = std::make_unique<Broker>(io_, opts_);
  ASSERT_TRUE(broker_->Start().ok());
  EXPECT_TRUE(broker_->HasClient("B"));
  auto admin = Connect("admin", "admin-secret");
  ASSERT_TRUE(admin->client.Subscribe("#").ok());
  auto b = Connect("B", "pw-b");
  ASSERT_TRUE(Pump([&] { return admin->connects == 1 && b->connects == 1; }));
  PumpFor(200ms);
  ASSERT_TRUE(b->client.Publish("nodes/B/x", "1").ok());
  ASSERT_TRUE(b->client.Publish("nodes/A/x", "1").ok());  // the ACL survived too
  ASSERT_TRUE(b->client.Publish("nodes/B/marker", "1").ok());
  ASSERT_TRUE(Pump([&] { return admin->Got("nodes/B/marker"); }));
  EXPECT_TRUE(admin->Got("nodes/B/x"));
  EXPECT_FALSE(admin->Got("nodes/A/x"));
}

TEST_F(BrokerTest, MissingBinaryIsAClearError) {
  opts_.mosquitto_path = "/nonexistent/mosquitto";
  Broker b(io_, opts_);
  Status s = b.Start();
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("mosquitto"), std::string::npos);
}

TEST(BrokerHash, HasMosquittoFormat) {
  auto h = HashMosquittoPassword("pw");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$7$101$", 0), 0u);
  EXPECT_EQ(h->size(), 7 + 16 + 1 + 88u);  // 12-byte salt and 64-byte key, base64
  EXPECT_NE(*HashMosquittoPassword("pw"), *h);  // salted
}

}  // namespace
}  // namespace oak::cluster

// LocalNetwork with the real ip and nft, as root. Each test runs in a network namespace of its own
// that stands in for the node's host namespace: the test thread enters it with setns(2), so the
// bridge, the table, the sysctls and every command LocalNetwork runs stay inside it, and the
// machine's own network is never touched. Traffic goes only to addresses inside these namespaces.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "common/subprocess.h"
#include "node/net/local_network.h"
#include "node/netns_harness.h"
#include "support/process.h"

namespace oak::node::net {
namespace {

using namespace std::chrono_literals;
using oak::testing::Process;
using oak::testing::TempDir;
using oak::testing::WaitFor;
using Proto = model::PortMapping::Proto;
using namespace oak::node::net::testing;

class LocalNetworkProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nftables)";
    static int counter = 0;
    tag_ = "t" + Base36(static_cast<unsigned>(::getpid())) + Base36(counter++ % 36);
    host_ = std::make_unique<HostNamespace>(tag_);
    ASSERT_TRUE(host_->ready()) << "cannot create the test's host namespace";
    dir_ = std::make_unique<TempDir>("net");
    www_ = *dir_ / "www";
    std::filesystem::create_directories(www_);
    std::ofstream(www_ + "/index.html") << "hello from the instance\n";
  }
  void TearDown() override {
    servers_.clear();  // before the namespaces go
    host_.reset();
  }

  LocalNetworkOptions Options(const std::string& subnet = "10.18.0.0/26") {
    return {tag_, subnet, *dir_ / "state"};
  }
  // busybox httpd on port 8080 inside the instance's namespace, answering once it listens.
  void ServeHttp(const Attachment& a) {
    std::string ns = std::filesystem::path(a.netns_path).filename();
    servers_.push_back(std::make_unique<Process>(
        std::vector<std::string>{*FindExecutable("ip"), "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "8080", "-h", www_},
        *dir_ / ("httpd-" + ns + ".log")));
    ASSERT_TRUE(WaitFor([&] { return !HttpGet(a.ip, 8080).empty(); }, 5s)) << servers_.back()->Log();
  }
  std::string Table() { return Cmd({"nft", "list", "table", "inet", "oak_" + tag_}).out; }
  static std::string Ns(const Attachment& a) { return std::filesystem::path(a.netns_path).filename(); }

  std::string tag_, www_;
  std::unique_ptr<HostNamespace> host_;
  std::unique_ptr<TempDir> dir_;
  std::vector<std::unique_ptr<Process>> servers_;
};

const std::string kHello = "hello from the instance\n";

TEST_F(LocalNetworkProcessTest, InstancesGetAddressesAndReachTheGatewayAndEachOther) {
  LocalNetwork net(Options());
  ASSERT_TRUE(net.Setup().ok());
  EXPECT_EQ(ReadText("/proc/sys/net/ipv4/ip_forward"), "1\n");
  EXPECT_EQ(ReadText("/proc/sys/net/ipv4/conf/oak" + tag_ + "/route_localnet"), "1\n");
  auto a = net.Attach("web.instance.0", {});
  auto b = net.Attach("web.instance.1", {});
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(a->ip, "10.18.0.2");
  EXPECT_EQ(b->ip, "10.18.0.3");
  EXPECT_EQ(a->gateway, "10.18.0.1");
  EXPECT_EQ(a->netns_path.rfind("/var/run/netns/oak-" + tag_ + "-", 0), 0u) << a->netns_path;
  // `ip netns add` from inside the test's namespace still makes a fresh one: lo and eth0 only.
  EXPECT_EQ(Links(Ns(*a)), (std::set<std::string>{"lo", "eth0"}));
  std::string addrs = Cmd({"ip", "-n", Ns(*a), "-4", "addr", "show", "dev", "eth0"}).out;
  EXPECT_NE(addrs.find("inet 10.18.0.2/26"), std::string::npos) << addrs;
  std::string routes = Cmd({"ip", "-n", Ns(*a), "route", "show", "default"}).out;
  EXPECT_NE(routes.find("default via 10.18.0.1 dev eth0"), std::string::npos) << routes;
  EXPECT_TRUE(Ping(Ns(*a), "10.18.0.1"));
  EXPECT_TRUE(Ping(Ns(*b), "10.18.0.1"));
  EXPECT_TRUE(Ping(Ns(*a), "10.18.0.3"));
  EXPECT_TRUE(Ping(Ns(*b), "10.18.0.2"));
  EXPECT_TRUE(Ping(Ns(*a), "127.0.0.1")) << "loopback is up inside";
  EXPECT_TRUE(Ping(Ns(*a), kOutsideAddr)) << "the node's other addresses are reachable through the gateway";
  EXPECT_EQ(net.List().size(), 2u);
  auto again = net.Attach("web.instance.0", {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->netns_path, a->netns_path) << "attaching again with the same ports is a no-op";
  EXPECT_EQ(net.Attach("web.instance.0", {{8080, 80, Proto::kTcp}}).status().code(), Code::kConflict);
  EXPECT_TRUE(net.Teardown().ok());
}

TEST_F(LocalNetworkProcessTest, PublishedPortsAnswerOnNodeAddressesAndLoopback) {
  LocalNetwork net(Options());
  ASSERT_TRUE(net.Setup().ok());
  auto a = net.Attach("web.instance.0", {{18080, 8080, Proto::kTcp}, {15353, 5353, Proto::kUdp}});
  auto b = net.Attach("client.instance.0", {});
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  ServeHttp(*a);
  EXPECT_EQ(HttpGet(kOutsideAddr, 18080), kHello) << "via the node's address";
  EXPECT_EQ(HttpGet("127.0.0.1", 18080), kHello) << "via 127.0.0.1 from the node";
  EXPECT_EQ(HttpGet("10.18.0.1", 18080), kHello) << "via the gateway from the node";
  EXPECT_EQ(HttpGetFrom(Ns(*b), "10.18.0.1", 18080), kHello) << "another instance via the gateway";
  EXPECT_EQ(HttpGetFrom(Ns(*b), kOutsideAddr, 18080), kHello) << "another instance via the node's address";
  EXPECT_EQ(HttpGetFrom(Ns(*a), "10.18.0.1", 18080), kHello) << "hairpin: its own published port";
  EXPECT_EQ(HttpGet("127.0.0.1", 18081), "") << "unpublished ports stay closed";

  // UDP: datagrams to the published port arrive inside, from the node's loopback and address.
  std::promise<std::string> got;
  std::thread receiver([&] { got.set_value(ReceiveUdpIn(a->netns_path, 5353, 2)); });
  std::future<std::string> received = got.get_future();
  EXPECT_TRUE(WaitFor([&] {
    SendUdp("127.0.0.1", 15353, "over-loopback;");
    SendUdp(kOutsideAddr, 15353, "over-address;");
    return received.wait_for(20ms) == std::future_status::ready;
  }, 5s));
  receiver.join();
  std::string datagrams = received.get();
  EXPECT_NE(datagrams.find("over-loopback;"), std::string::npos) << datagrams;
  EXPECT_NE(datagrams.find("over-address;"), std::string::npos) << datagrams;
  std::string table = Table();
  EXPECT_NE(table.find("18080 : 10.18.0.2 . 8080"), std::string::npos) << table;
  EXPECT_NE(table.find("15353 : 10.18.0.2 . 5353"), std::string::npos) << table;
  EXPECT_TRUE(net.Teardown().ok());
}

TEST_F(LocalNetworkProcessTest, TakenHostPortIsAConflictAndCreatesNothing) {
  LocalNetwork net(Options());
  ASSERT_TRUE(net.Setup().ok());
  ASSERT_TRUE(net.Attach("a.instance.0", {{18080, 80, Proto::kTcp}}).ok());
  auto netns_before = Netns("oak-" + tag_ + "-");
  auto links_before = Links();
  std::string table_before = Table();
  std::string state_before = ReadText(*dir_ / "state/state.json");

  auto b = net.Attach("b.instance.0", {{9000, 90, Proto::kTcp}, {18080, 80, Proto::kTcp}});
  ASSERT_EQ(b.status().code(), Code::kConflict);
  EXPECT_NE(b.status().message().find("18080"), std::string::npos) << b.status().message();
  EXPECT_NE(b.status().message().find("a.instance.0"), std::string::npos) << b.status().message();
  EXPECT_EQ(Netns("oak-" + tag_ + "-"), netns_before);
  EXPECT_EQ(Links(), links_before);
  EXPECT_EQ(Table(), table_before);
  EXPECT_EQ(ReadText(*dir_ / "state/state.json"), state_before);
  EXPECT_EQ(net.List().size(), 1u);
  EXPECT_TRUE(net.Attach("b.instance.0", {{18080, 80, Proto::kUdp}}).ok()) << "another protocol is free";
  EXPECT_TRUE(net.Teardown().ok());
}

TEST_F(LocalNetworkProcessTest, DetachRemovesNamespaceVethAndRules) {
  LocalNetwork net(Options());
  ASSERT_TRUE(net.Setup().ok());
  auto links_before = Links();
  auto a = net.Attach("a.instance.0", {{18080, 80, Proto::kTcp}});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(Netns("oak-" + tag_ + "-").size(), 1u);
  EXPECT_EQ(Links().size(), links_before.size() + 1);
  EXPECT_NE(Table().find("18080 : 10.18.0.2 . 80"), std::string::npos);

  ASSERT_TRUE(net.Detach("a.instance.0").ok());
  EXPECT_TRUE(Netns("oak-" + tag_ + "-").empty());
  EXPECT_EQ(Links(), links_before);
  std::string table = Table();
  EXPECT_NE(table.find("chain published"), std::string::npos) << "the table stays";
  EXPECT_EQ(table.find("18080"), std::string::npos) << table;
  EXPECT_TRUE(net.List().empty());
  EXPECT_TRUE(net.Detach("a.instance.0").ok()) << "idempotent";
  EXPECT_TRUE(net.Detach("never.instance.0").ok());
  auto again = net.Attach("b.instance.0", {{18080, 80, Proto::kTcp}});
  ASSERT_TRUE(again.ok()) << "the port and the address are free again";
  EXPECT_EQ(again->ip, "10.18.0.2");
  EXPECT_TRUE(net.Teardown().ok());
}

TEST_F(LocalNetworkProcessTest, RestartKeepsAttachmentsAndTeardownLeavesNothing) {
  std::string ns_a;
  {
    LocalNetwork first(Options());
    ASSERT_TRUE(first.Setup().ok());
    auto a = first.Attach("web.instance.0", {{18080, 8080, Proto::kTcp}});
    ASSERT_TRUE(first.Attach("db.instance.0", {}).ok());
    auto c = first.Attach("cache.instance.0", {});
    ASSERT_TRUE(a.ok() && c.ok());
    ASSERT_TRUE(first.Detach("db.instance.0").ok());
    ns_a = Ns(*a);
    ServeHttp(*a);
    // What a crash or a reboot leaves behind: a namespace no record names, an attachment whose
    // veth is gone (its namespace, with the server, is kept) and one whose namespace is gone.
    ASSERT_TRUE(Cmd({"ip", "netns", "add", "oak-" + tag_ + "-deadbeef"}).ok());
    ASSERT_TRUE(Cmd({"ip", "link", "delete", "o" + Ns(*a).substr(Ns(*a).size() - 8)}).ok());
    ASSERT_TRUE(Cmd({"ip", "netns", "delete", Ns(*c)}).ok());
    ASSERT_EQ(HttpGet("127.0.0.1", 18080), "");
  }  // the engine stops; the kernel objects stay

  LocalNetwork second(Options());
  ASSERT_TRUE(second.Setup().ok());
  auto list = second.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].instance, "cache.instance.0");
  EXPECT_EQ(list[0].ip, "10.18.0.4");
  EXPECT_EQ(list[1].instance, "web.instance.0");
  EXPECT_EQ(list[1].ip, "10.18.0.2");
  EXPECT_EQ(list[1].ports, (std::vector<model::PortMapping>{{18080, 8080, Proto::kTcp}}));
  EXPECT_EQ(Netns("oak-" + tag_ + "-").count("oak-" + tag_ + "-deadbeef"), 0u) << "the stray is gone";
  EXPECT_EQ(Netns("oak-" + tag_ + "-").size(), 2u);
  EXPECT_TRUE(Ping(Ns(list[0]), "10.18.0.1")) << "the lost namespace was re-created";
  EXPECT_EQ(Ns(list[1]), ns_a);
  auto same = second.Attach("web.instance.0", {{18080, 8080, Proto::kTcp}});
  ASSERT_TRUE(same.ok()) << same.status().message();
  EXPECT_EQ(Ns(*same), ns_a) << "an attachment from before the restart is returned as it is";
  EXPECT_EQ(HttpGet("127.0.0.1", 18080), kHello) << "the server in the kept namespace is reachable again";
  EXPECT_EQ(HttpGet(kOutsideAddr, 18080), kHello);
  auto next = second.Attach("db.instance.0", {});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->ip, "10.18.0.3") << "the lowest free address";
  EXPECT_EQ(second.Attach("x.instance.0", {{18080, 1, Proto::kTcp}}).status().code(), Code::kConflict);

  servers_.clear();
  ASSERT_TRUE(second.Teardown().ok());
  EXPECT_TRUE(Netns("oak-" + tag_ + "-").empty());
  EXPECT_EQ(Links(), (std::set<std::string>{"lo", "x" + tag_ + "a", "x" + tag_ + "b"}));
  EXPECT_FALSE(Cmd({"nft", "list", "table", "inet", "oak_" + tag_}).ok());
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "state/state.json"));
  EXPECT_TRUE(LocalNetwork(Options()).Teardown().ok()) << "tearing down nothing is fine";
}

TEST_F(LocalNetworkProcessTest, FullSubnetIsUnavailable) {
  LocalNetwork net(Options("10.18.0.0/30"));  // gateway .1, one instance .2
  ASSERT_TRUE(net.Setup().ok());
  ASSERT_TRUE(net.Attach("a.instance.0", {}).ok());
  auto b = net.Attach("b.instance.0", {});
  EXPECT_EQ(b.status().code(), Code::kUnavailable);
  EXPECT_EQ(b.status().message(), "subnet 10.18.0.0/30 is full");
  EXPECT_EQ(Netns("oak-" + tag_ + "-").size(), 1u);
  EXPECT_TRUE(net.Teardown().ok());
}

TEST_F(LocalNetworkProcessTest, MalformedOptionsAreInvalidAndCreateNothing) {
  auto links = Links();
  LocalNetworkOptions bad_subnet = Options("10.18.0.0/33");
  LocalNetworkOptions long_name = Options();
  long_name.name = "waytoolongname";
  EXPECT_EQ(LocalNetwork(bad_subnet).Setup().code(), Code::kInvalid);
  EXPECT_EQ(LocalNetwork(long_name).Setup().code(), Code::kInvalid);
  EXPECT_EQ(Links(), links);
}

TEST_F(LocalNetworkProcessTest, ChangedSubnetWithAttachmentsIsRefused) {
  {
    LocalNetwork first(Options());
    ASSERT_TRUE(first.Setup().ok());
    ASSERT_TRUE(first.Attach("a.instance.0", {}).ok());
  }
  LocalNetwork other(Options("10.18.0.64/26"));
  Status s = other.Setup();
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_NE(s.message().find("10.18.0.0/26"), std::string::npos) << s.message();
  EXPECT_TRUE(other.Teardown().ok());
  EXPECT_TRUE(Netns("oak-" + tag_ + "-").empty());
}

TEST_F(LocalNetworkProcessTest, ConcurrentAttachesGetDistinctAddressesAndOneWinsAPort) {
  LocalNetwork net(Options());
  ASSERT_TRUE(net.Setup().ok());
  // Threads started here share the test thread's namespace.
  std::vector<std::thread> workers;
  std::atomic<int> won{0}, conflicts{0}, failures{0};
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        auto id = "w" + std::to_string(t) + ".instance." + std::to_string(i);
        if (!net.Attach(id, {{static_cast<uint16_t>(30000 + 10 * t + i), 80, Proto::kTcp}}).ok()) ++failures;
      }
      auto contested = net.Attach("c" + std::to_string(t) + ".instance.0", {{40000, 80, Proto::kTcp}});
      if (contested.ok()) ++won;
      else if (contested.status().code() == Code::kConflict) ++conflicts;
      else ++failures;
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(won, 1);
  EXPECT_EQ(conflicts, 3);
  std::set<std::string> ips;
  for (const auto& a : net.List()) ips.insert(a.ip);
  EXPECT_EQ(ips.size(), 13u);
  EXPECT_EQ(Netns("oak-" + tag_ + "-").size(), 13u);
  EXPECT_TRUE(net.Teardown().ok());
}

TEST_F(LocalNetworkProcessTest, FailedAttachLeavesNothingAndNamesTheToolError) {
  LocalNetwork net(Options());
  ASSERT_TRUE(net.Setup().ok());
  auto kept = net.Attach("kept.instance.0", {});
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE(Cmd({"ip", "link", "delete", "oak" + tag_}).ok());  // the bridge vanishes behind the engine's back
  auto netns_before = Netns("oak-" + tag_ + "-");
  auto a = net.Attach("a.instance.0", {{18080, 80, Proto::kTcp}});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), Code::kInternal);
  EXPECT_EQ(a.status().message().rfind("ip link add o", 0), 0u) << a.status().message();
  EXPECT_NE(a.status().message().find("master oak" + tag_), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("Device does not exist"), std::string::npos) << a.status().message();
  EXPECT_EQ(Netns("oak-" + tag_ + "-"), netns_before);
  EXPECT_EQ(Links(), (std::set<std::string>{"lo", "x" + tag_ + "a", "x" + tag_ + "b", "o" + Ns(*kept).substr(Ns(*kept).size() - 8)}));
  EXPECT_EQ(net.List().size(), 1u);
  EXPECT_FALSE(Ping(Ns(*kept), "10.18.0.1"));
  ASSERT_TRUE(net.Setup().ok()) << "Setup brings the bridge back";
  EXPECT_TRUE(Ping(Ns(*kept), "10.18.0.1")) << "and re-attaches the veths";
  EXPECT_TRUE(net.Attach("a.instance.0", {{18080, 80, Proto::kTcp}}).ok());
  EXPECT_TRUE(net.Teardown().ok());
}

TEST_F(LocalNetworkProcessTest, AttachAndDetachTimes) {
  LocalNetwork net(Options());
  ASSERT_TRUE(net.Setup().ok());
  constexpr int kN = 10;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(net.Attach("m.instance." + std::to_string(i), {{static_cast<uint16_t>(20000 + i), 80, Proto::kTcp}}).ok());
  }
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(net.Detach("m.instance." + std::to_string(i)).ok());
  auto t2 = std::chrono::steady_clock::now();
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf("attach %.1f ms, detach %.1f ms per instance (%d instances)\n", ms(t1 - t0) / kN, ms(t2 - t1) / kN, kN);
  EXPECT_TRUE(net.Teardown().ok());
}

}  // namespace
}  // namespace oak::node::net

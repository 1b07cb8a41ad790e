// Who may join and what a node may touch: tokens at the root and the cluster, the broker's ACL as
// seen by mosquitto's own clients, and hostile MQTT payloads.
#include <filesystem>

#include "common/http_client.h"
#include "integration/hierarchy.h"

namespace oak::it {
namespace {

using oak::testing::Process;

struct Answer {
  unsigned status = 0;  // 0: no answer
  json body;
};

Answer PostTo(const ClusterProcess& c, const std::string& target, const std::string& bearer, const std::string& body) {
  auto url = ParseUrl(c.url());
  if (!url.ok()) return {};
  ClientRequest req;
  req.method = boost::beast::http::verb::post;
  req.target = target;
  req.bearer = bearer;
  req.body = body;
  auto res = HttpFetchSync(*url, std::move(req));
  if (!res.ok()) return {};
  return {res->status, json::parse(res->body, nullptr, false)};
}

Answer RegisterNode(const ClusterProcess& c, const std::string& token, const std::string& body) {
  return PostTo(c, "/api/node/register", token, body);
}

// mosquitto's own command-line clients against the cluster's broker.
class MqttCli {
 public:
  MqttCli(const TempDir& dir, uint16_t port) : dir_(dir), port_(std::to_string(port)) {}
  int Pub(const std::string& user, const std::string& pw, const std::string& topic, const std::string& msg) {
    std::vector<std::string> argv = {"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", port_, "-q", "1",
                                     "-t", topic, "-m", msg};
    if (!user.empty()) argv.insert(argv.end(), {"-u", user, "-P", pw});
    Process p(argv, dir_ / "pub.log");
    return p.Stop(0, std::chrono::seconds(10));
  }
  std::unique_ptr<Process> Sub(const std::string& user, const std::string& pw, const std::string& topic,
                               const std::string& log) {
    return std::make_unique<Process>(std::vector<std::string>{"/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", port_,
                                                              "-u", user, "-P", pw, "-q", "1", "-v", "-t", topic},
                                     dir_ / log);
  }

 private:
  const TempDir& dir_;
  std::string port_;
};

std::string CredsOf(const Answer& r, const char* field) {
  return r.body.is_object() ? r.body.value(field, "") : "";
}

TEST(HierarchySecurity, TokensGuardTheRootAndTheCluster) {
  Hierarchy h("hier-tokens");
  // A cluster with the wrong token is refused and keeps retrying; the root never lists it.
  TempDir d("hier-rogue");
  ClusterProcess wrong(d / "c", h.root().url(), "not-the-token", ClusterConfig{.name = "impostor", .extra_args = {}});
  ASSERT_TRUE(WaitFor([&] { return wrong.Log().find("refused the cluster token") != std::string::npos; }))
      << wrong.Log();
  auto list = h.admin().Get("/api/clusters");
  for (auto& c : list.json) EXPECT_NE(c.value("cluster_name", ""), "impostor");

  // Nodes: no token, a wrong token -> 401; a bad description -> 400 naming the field.
  auto& c = h.AddCluster("guarded");
  EXPECT_EQ(RegisterNode(c, "", R"({"host": "n"})").status, 401u);
  EXPECT_EQ(RegisterNode(c, "wrong", R"({"host": "n"})").status, 401u);
  auto r = RegisterNode(c, c.config().node_token, R"({"host": "n", "vcpus": "many"})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(FieldOf(r.body.value("message", "")), "vcpus") << r.body.dump();
  EXPECT_EQ(RegisterNode(c, c.config().node_token, "{not json").status, 400u);
  // The same identity keeps its id and gets a fresh password.
  auto first = RegisterNode(c, c.config().node_token, R"({"host": "same", "vcpus": 2, "memory": 1024})");
  auto second = RegisterNode(c, c.config().node_token, R"({"host": "same", "vcpus": 2, "memory": 1024})");
  ASSERT_EQ(first.status, 200u);
  ASSERT_EQ(second.status, 200u);
  EXPECT_EQ(CredsOf(first, "id"), CredsOf(second, "id"));
  EXPECT_NE(CredsOf(first, "mqtt_password"), CredsOf(second, "mqtt_password"));
  EXPECT_EQ(second.body.value("MQTT_BROKER_PORT", 0), c.mqtt_port());
}

TEST(HierarchySecurity, BrokerConfinesEachNodeToItsOwnTopics) {
  Hierarchy h("hier-acl");
  auto& c = h.AddCluster("acl");
  auto a = RegisterNode(c, c.config().node_token, R"({"host": "node-a", "vcpus": 2, "memory": 1024})");
  auto b = RegisterNode(c, c.config().node_token, R"({"host": "node-b", "vcpus": 2, "memory": 1024})");
  ASSERT_EQ(a.status, 200u);
  ASSERT_EQ(b.status, 200u);
  std::string ida = CredsOf(a, "id"), pwa = CredsOf(a, "mqtt_password");
  std::string idb = CredsOf(b, "id"), pwb = CredsOf(b, "mqtt_password");
  TempDir dir("hier-acl-cli");
  MqttCli cli(dir, c.mqtt_port());

  EXPECT_NE(cli.Pub("", "", "nodes/" + ida + "/information", "{}"), 0) << "anonymous MQTT must be refused";
  EXPECT_NE(cli.Pub(ida, "wrong-password", "nodes/" + ida + "/information", "{}"), 0);

  // B listens on its own subtree; A's forged message into it never arrives, B's own marker does.
  auto sub_b = cli.Sub(idb, pwb, "nodes/" + idb + "/#", "sub-b.log");
  ASSERT_TRUE(WaitFor([&] {
    cli.Pub(idb, pwb, "nodes/" + idb + "/marker", "ready-b");
    return sub_b->Log().find("ready-b") != std::string::npos;
  })) << sub_b->Log();
  EXPECT_EQ(cli.Pub(ida, pwa, "nodes/" + idb + "/job", "forged-by-a"), 0) << "mosquitto_pub reports success; the broker drops it";
  cli.Pub(idb, pwb, "nodes/" + idb + "/marker", "after-b");
  ASSERT_TRUE(WaitFor([&] { return sub_b->Log().find("after-b") != std::string::npos; }));
  EXPECT_EQ(sub_b->Log().find("forged-by-a"), std::string::npos) << sub_b->Log();

  // A subscribing to everything only ever sees its own subtree.
  auto sub_a = cli.Sub(ida, pwa, "nodes/#", "sub-a.log");
  ASSERT_TRUE(WaitFor([&] {
    cli.Pub(ida, pwa, "nodes/" + ida + "/marker", "ready-a");
    return sub_a->Log().find("ready-a") != std::string::npos;
  })) << sub_a->Log();
  cli.Pub(idb, pwb, "nodes/" + idb + "/information", "secret-of-b");
  cli.Pub(ida, pwa, "nodes/" + ida + "/marker", "after-a");
  ASSERT_TRUE(WaitFor([&] { return sub_a->Log().find("after-a") != std::string::npos; }));
  EXPECT_EQ(sub_a->Log().find("secret-of-b"), std::string::npos) << sub_a->Log();
}

// The cluster's secret at the root, as the cluster stored it (its meta table).
std::string ClusterSecret(const ClusterProcess& c) {
  std::string cmd = "/usr/bin/sqlite3 " + c.data_dir() + "/cluster.db \"SELECT value FROM meta WHERE key = 'root.secret'\"";
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST(HierarchySecurity, MalformedBatchedDeploysAreRefusedNamingTheField) {
  Hierarchy h("hier-batch-bad");
  auto& c = h.AddCluster("strict");
  auto& node = h.AddNode(c, "n1");
  ASSERT_FALSE(h.WaitClusterReady("strict", 1).empty()) << h.Dump();
  const std::string secret = ClusterSecret(c);
  ASSERT_FALSE(secret.empty());
  auto post = [&](const std::string& bearer, const std::string& body) -> std::pair<unsigned, json> {
    Answer a = PostTo(c, "/api/instances/deploy", bearer, body);
    return {a.status, a.body};
  };
  auto [st, j] = post("", R"({"jobs": []})");
  EXPECT_EQ(st, 401u) << j;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "body"},
      {R"([1, 2])", "body"},
      {R"({"jobs": {}})", "jobs"},
      {R"({"jobs": [7]})", "jobs[0]"},
      {R"({"jobs": [{"service": {}, "instance_numbers": [0]}]})", "jobs[0].job_id"},
      {R"({"jobs": [{"job_id": "x", "instance_numbers": [0]}]})", "jobs[0].service"},
      {R"({"jobs": [{"job_id": "x", "service": {}, "instance_numbers": [-1]}]})", "jobs[0].instance_numbers"},
      {R"({"jobs": [{"job_id": "x", "service": {}, "instance_numbers": ["0"]}]})", "jobs[0].instance_numbers"},
  };
  for (auto& [body, field] : bad) {
    auto [code, answer] = post(secret, body);
    EXPECT_EQ(code, 400u) << body << " -> " << answer;
    EXPECT_NE(answer.value("message", "").find(field), std::string::npos) << body << " -> " << answer;
  }
  // One good and one refused document in the same batch: each instance gets its own answer, and
  // only the good one is placed.
  // A service the root knows, so that the root keeps what the cluster then reports.
  auto sids = CreateServices(h.admin(), "batchok", json::array({Microservice("web")}));
  ASSERT_EQ(sids.size(), 1u);
  json service = h.admin().Get("/api/service/" + sids[0]).json;
  ASSERT_TRUE(service.contains("job_name")) << service;
  json good{{"job_id", sids[0]},
            {"service", {{"job_name", service["job_name"]}, {"virtualization", "container"}, {"memory", 1}, {"vcpus", 0}}},
            {"instance_numbers", {0, 1}}};
  json refused{{"job_id", "badjob"}, {"service", {{"job_name", 42}}}, {"instance_numbers", {0}}};
  auto [code, answer] = post(secret, json{{"jobs", {good, refused}}}.dump());
  ASSERT_EQ(code, 200u) << answer;
  ASSERT_EQ(answer["results"].size(), 3u) << answer;
  for (auto& r : answer["results"]) {
    if (r["job_id"] == sids[0]) EXPECT_EQ(r["code"], 200) << r;
    else EXPECT_EQ(r["code"], 400) << r;
  }
  // The good instances reach the node (the root, which never asked for them, then has them
  // removed again); the refused one never does.
  const std::string name = service["job_name"].get<std::string>();
  EXPECT_TRUE(WaitFor([&] {
    std::string log = node.Log();
    return log.find("msg=deploy instance=" + name + ".instance.0") != std::string::npos &&
           log.find("msg=deploy instance=" + name + ".instance.1") != std::string::npos;
  })) << h.Dump();
  std::string log = node.Log();
  size_t deploys = 0;
  for (size_t at = log.find("msg=deploy "); at != std::string::npos; at = log.find("msg=deploy ", at + 1)) ++deploys;
  EXPECT_EQ(deploys, 2u) << log;
}

TEST(HierarchySecurity, MalformedMqttIsDroppedAndTheClusterKeepsWorking) {
  Hierarchy h("hier-malformed");
  auto& c = h.AddCluster("robust");
  h.AddNode(c, "good");
  ASSERT_FALSE(h.WaitClusterReady("robust", 1).empty()) << h.Dump();
  auto evil = RegisterNode(c, c.config().node_token, R"({"host": "evil", "vcpus": 2, "memory": 1024})");
  ASSERT_EQ(evil.status, 200u);
  std::string id = CredsOf(evil, "id"), pw = CredsOf(evil, "mqtt_password");
  TempDir dir("hier-malformed-cli");
  MqttCli cli(dir, c.mqtt_port());
  const std::vector<std::pair<std::string, std::string>> junk = {
      {"job", "not json"},
      {"job", R"({"sname": 42, "instance": "zero", "status": []})"},
      {"job", R"({"sname": "nobody.x.y.z", "instance": 7, "status": "RUNNING"})"},
      {"information", R"({"cpu_percent": "hot", "memory": -3})"},
      {"information", std::string(1000, '[')},
      {"jobs/resources", R"({"services": "none"})"},
      {"will", ""},
  };
  for (auto& [topic, payload] : junk) EXPECT_EQ(cli.Pub(id, pw, "nodes/" + id + "/" + topic, payload), 0);

  auto url = ParseUrl(c.url());
  ASSERT_TRUE(url.ok());
  double dropped = 0;
  ASSERT_TRUE(WaitFor([&] {
    ClientRequest m;
    m.target = "/metrics";
    auto met = HttpFetchSync(*url, std::move(m));
    if (!met.ok()) return false;
    dropped = ParseMetrics(met->body)["oak_cluster_mqtt_dropped_total"];
    return dropped >= 5;
  })) << dropped;

  // Still serving: an instance goes all the way to RUNNING on the good node.
  auto sids = CreateServices(h.admin(), "after", json::array({Microservice("web")}));
  ASSERT_EQ(sids.size(), 1u);
  DeployInstance(h.admin(), sids[0]);
  json inst = WaitInstanceStatus(h.admin(), sids[0], 0, "RUNNING", std::chrono::seconds(15));
  EXPECT_EQ(inst.value("status", ""), "RUNNING") << inst.dump() << h.Dump();
  EXPECT_EQ(inst.value("worker_id", ""), h.NodeId(c, "good"));
}

}  // namespace
}  // namespace oak::it

// `oak up`: the all-in-one supervisor. Starts root, cluster (which starts its mosquitto), N nodes
// and docker-registry as children of this process, waits for each to be healthy, deploys the demo,
// prints how to use it, and then supervises until SIGINT/SIGTERM.
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/cli.h"
#include "cli/credentials.h"
#include "cli/session.h"
#include "cli/up_steps.h"
#include "common/fs.h"
#include "common/json_fields.h"

namespace oak::cli {

using nlohmann::json;
using std::chrono::seconds;

namespace {

volatile sig_atomic_t g_stop_signal = 0;

extern "C" void OnStopSignal(int sig) { g_stop_signal = sig; }

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);  // the terminal went away: stop in order too
  ::signal(SIGPIPE, SIG_IGN);
}

Result<std::string> ReadToken(const std::string& path) {
  auto t = ReadFile(path);
  if (!t.ok()) return t.status();
  std::string s = *t;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty()) return Status::Unavailable(path + " is empty");
  return s;
}

class Up {
 public:
  Up(const UpOptions& o, std::string dir, Supervisor& sup)
      : c_{o, std::move(dir), "", sup, "http://127.0.0.1:" + std::to_string(o.port), "", ""} {}

  Status Start();
  int Supervise();

 private:
  Status Prepare();
  Status StartRoot();
  Status StartCluster();
  Status StartNodes();
  Result<ApiClient> LogIn();
  void PrintSummary(bool demo_running) const;
  std::vector<std::string> RoleFlags() const { return {"--log-level", c_.o.log_level}; }

  UpContext c_;
  int lock_fd_ = -1;
  bool session_stored_ = false;
};

Status Up::Prepare() {
  std::error_code ec;
  c_.exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) return Status::Internal("cannot find this binary (/proc/self/exe): " + ec.message());
  std::filesystem::create_directories(c_.dir, ec);
  if (ec) return Status::Invalid("--data-dir " + c_.dir + ": " + ec.message());
  // One supervisor per data directory: two would fight over the same databases and ports.
  std::string lock = c_.dir + "/up.lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return Status::Internal("cannot open " + lock + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return Status::Conflict("another `oak up` is running with --data-dir " + c_.dir + " (see " + c_.dir +
                            "/up.pids.json); stop it with Ctrl-C first");
  for (auto [port, what, flag] : {std::tuple{c_.o.port, "root API", "--port"},
                                  {c_.o.cluster_port, "cluster API", "--cluster-port"},
                                  {c_.o.mqtt_port, "cluster MQTT broker", "--mqtt-port"},
                                  {c_.o.registry_port, "image registry", "--registry-port"}})
    if (Status s = CheckPortFree(port, what, flag); !s.ok()) return s;
  if (!c_.o.admin_password.empty()) {
    c_.admin_password = c_.o.admin_password;
  } else {
    auto pw = LoadOrCreateSecret(c_.dir + "/admin.password", 12);
    if (!pw.ok()) return pw.status();
    c_.admin_password = *pw;
  }
  return Status::Ok();
}

Status Up::StartRoot() {
  std::vector<std::string> argv = {c_.exe, "root", "--data-dir", c_.dir + "/root", "--listen",
                                   "127.0.0.1:" + std::to_string(c_.o.port), "--heartbeat-interval", "2"};
  for (auto& f : RoleFlags()) argv.push_back(f);
  // The password goes through the environment, not argv: argv is visible to every user in ps.
  auto pid = c_.sup.Start({"root", argv, c_.dir + "/root.log", {"OAK_ADMIN_PASSWORD=" + c_.admin_password}});
  if (!pid.ok()) return pid.status();
  Say("started root (pid " + std::to_string(*pid) + "), API on " + c_.api);
  return WaitReady(c_, "root", "GET /healthz answering 200", seconds(c_.o.startup_timeout_s), [&]() -> Result<bool> {
    auto res = LocalFetch(c_.o.port, "/healthz");
    return res.ok() && res->status == 200;
  });
}

Status Up::StartCluster() {
  auto token = ReadToken(c_.dir + "/root/cluster.token");
  if (!token.ok()) return Status::Internal("the root wrote no cluster token: " + token.status().message());
  std::vector<std::string> argv = {c_.exe, "cluster", "--data-dir", c_.dir + "/cluster", "--root", c_.api,
                                   "--name", "local", "--location", "48.14,11.58,50", "--listen",
                                   "127.0.0.1:" + std::to_string(c_.o.cluster_port), "--mqtt-listen",
                                   "127.0.0.1:" + std::to_string(c_.o.mqtt_port)};
  for (auto& f : RoleFlags()) argv.push_back(f);
  auto pid = c_.sup.Start({"cluster", argv, c_.dir + "/cluster.log", {"OAK_CLUSTER_TOKEN=" + *token}});
  if (!pid.ok()) return pid.status();
  Say("started cluster \"local\" (pid " + std::to_string(*pid) + "), API on 127.0.0.1:" +
      std::to_string(c_.o.cluster_port) + ", MQTT on 127.0.0.1:" + std::to_string(c_.o.mqtt_port));
  return WaitReady(c_, "cluster", "GET /healthz answering registered: true", seconds(c_.o.startup_timeout_s),
                   [&]() -> Result<bool> {
                     auto res = LocalFetch(c_.o.cluster_port, "/healthz");
                     if (!res.ok() || res->status != 200) return false;
                     json j = json::parse(res->body, nullptr, false);
                     return j.is_object() && j.contains("registered") && j["registered"] == true;
                   });
}

Status Up::StartNodes() {
  auto token = ReadToken(c_.dir + "/cluster/node.token");
  if (!token.ok()) return Status::Internal("the cluster wrote no node token: " + token.status().message());
  std::vector<std::string> names = NodeNames(c_.o.nodes);
  for (const auto& name : names) {
    std::vector<std::string> argv = {c_.exe, "node", "--data-dir", c_.dir + "/" + name, "--cluster",
                                     "http://127.0.0.1:" + std::to_string(c_.o.cluster_port), "--name", name,
                                     "--runtime", c_.o.runtime};
    for (auto& f : RoleFlags()) argv.push_back(f);
    auto pid = c_.sup.Start({name, argv, c_.dir + "/" + name + ".log", {"OAK_NODE_TOKEN=" + *token}});
    if (!pid.ok()) return pid.status();
    Say("started " + name + " (pid " + std::to_string(*pid) + ", runtime " + c_.o.runtime + ")");
  }
  for (const auto& name : names) {
    Status s = WaitReady(c_, name, name + " to be active at the cluster (GET /api/nodes)", seconds(c_.o.startup_timeout_s),
                         [&]() -> Result<bool> {
                           auto res = LocalFetch(c_.o.cluster_port, "/api/nodes", *token);
                           if (!res.ok() || res->status != 200) return false;
                           json nodes = json::parse(res->body, nullptr, false);
                           if (!nodes.is_array()) return false;
                           for (const auto& n : nodes)
                             if (StringOr(n, "node_name") == name && n.contains("active") && n["active"] == true)
                               return true;
                           return false;
                         });
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Result<ApiClient> Up::LogIn() {
  auto answer = ApiClient::Login(c_.api, "Admin", c_.admin_password);
  if (!answer.ok())
    return Status(answer.status().code(),
                  "cannot log in as Admin: " + answer.status().message() + " (the root in " + c_.dir +
                      "/root keeps the password of its first start; pass that one with --admin-password)");
  // The CLI tour works at once: the session is stored unless it would replace someone's session
  // (another root, or another user of this one).
  std::string path = CredentialsPath();
  auto old = LoadCredentials(path);
  if (!old.ok() || (old->api == c_.api && old->user == "Admin")) {
    Status s = SaveCredentials(path, {c_.api, answer->token, answer->refresh_token, "Admin"});
    if (!s.ok()) Say("warning: cannot store the session in " + path + ": " + s.message());
    session_stored_ = s.ok();
  }
  return ApiClient(c_.api, answer->token, answer->refresh_token);
}

Status Up::Start() {
  if (Status s = Prepare(); !s.ok()) return s;
  Say("data and logs in " + c_.dir);
  if (Status s = StartRoot(); !s.ok()) return s;
  if (Status s = StartCluster(); !s.ok()) return s;
  if (Status s = StartNodes(); !s.ok()) return s;
  auto api = LogIn();
  if (!api.ok()) return api.status();
  // The root learns about nodes from the cluster's heartbeats; the demo is placed from that view.
  int want = c_.o.nodes;
  Status s = WaitReady(c_, "cluster", std::to_string(want) + " active node(s) at the root (GET /api/clusters/)",
                       seconds(c_.o.startup_timeout_s), [&]() -> Result<bool> {
                         auto clusters = api->Get("/api/clusters/");
                         if (!clusters.ok() || !clusters->is_array()) return false;
                         for (const auto& cl : *clusters) {
                           if (StringOr(cl, "cluster_name") != "local" || !cl.contains("active")) continue;
                           auto n = cl.find("active_nodes");
                           if (cl["active"] == true && n != cl.end() && n->is_number_integer() && *n >= want)
                             return true;
                         }
                         return false;
                       });
  if (!s.ok()) return s;
  Say("all " + std::to_string(want) + " node(s) are active");
  if (s = StartRegistry(c_); !s.ok()) return s;
  bool demo_running = false;
  if (c_.o.demo) {
    if (s = PushDemoImage(c_); !s.ok()) return s;
    s = DeployDemo(c_, *api);
    if (!s.ok() && StopRequested()) return s;
    // A failed demo leaves the system up: the user can look at the failure with the CLI.
    if (!s.ok()) Say("the demo did not reach RUNNING: " + s.message());
    demo_running = s.ok();
  }
  PrintSummary(demo_running);
  return Status::Ok();
}

void Up::PrintSummary(bool demo_running) const {
  std::string oak = c_.exe;
  std::string p = std::to_string(c_.o.demo_port);
  std::cout << "\n  Oak is up: root, cluster \"local\" with its MQTT broker, " << c_.o.nodes << " node(s) (runtime "
            << c_.o.runtime << "), image registry 127.0.0.1:" << c_.o.registry_port << "\n"
            << "  API:          " << c_.api << "   (OpenAPI: " << c_.api << "/api/docs, metrics: /metrics)\n"
            << "  login:        Admin / " << c_.admin_password
            << (c_.o.admin_password.empty() ? "   (kept in " + c_.dir + "/admin.password)" : std::string()) << "\n"
            << "  data, logs:   " << c_.dir << "   (root.log, cluster.log, node-N.log, registry.log)\n"
            << "  PIDs:         " << c_.dir << "/up.pids.json\n";
  if (c_.o.demo) {
    if (demo_running && c_.o.runtime == "simulated")
      std::cout << "  demo:         hello.demo.web.demo is RUNNING in the simulated runtime (no process, nothing "
                   "listens on port "
                << p << ")\n";
    else if (demo_running)
      std::cout << "  demo:         curl " << c_.demo_url << "\n";
    else
      std::cout << "  demo:         not running; see `" << oak << " svc show hello.demo.web.demo`\n";
  }
  std::cout << "\n  Next, in another terminal:\n"
            << "    " << oak << " login --api " << c_.api << " -u Admin"
            << (session_stored_ ? "     # done already for this user" : "") << "\n"
            << "    " << oak << " svc ls\n"
            << "    " << oak << " svc show hello.demo.web.demo\n"
            << "    " << oak << " nodes\n"
            << "    " << oak << " apply my-app.json --deploy\n"
            << "    " << oak << " logs hello.demo.web.demo\n"
            << "    tail -f " << c_.dir << "/node-1.log\n"
            << "    " << oak << " app rm hello\n"
            << "\n  Ctrl-C stops Oak; running containers stay up and are adopted at the next start\n"
            << "  (`" << oak << " node --reset --data-dir " << c_.dir << "/node-1` removes them).\n\n"
            << std::flush;
}

int Up::Supervise() {
  c_.sup.EnableRestarts(true);
  while (!StopRequested()) {
    if (Status s = c_.sup.Poll(); !s.ok()) {
      Say(s.message() + "; stopping everything");
      return kExitFailure;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return kExitOk;
}

}  // namespace

void Say(const std::string& line) { std::cout << "oak up: " << line << std::endl; }

bool StopRequested() { return g_stop_signal != 0; }

Result<ClientResponse> LocalFetch(uint16_t port, const std::string& target, const std::string& bearer,
                                  boost::beast::http::verb method, const std::string& body) {
  Url url{.scheme = "http", .host = "127.0.0.1", .port = port, .base_path = ""};
  ClientRequest req;
  req.method = method;
  req.target = target;
  req.bearer = bearer;
  req.body = body;
  req.timeout = std::chrono::milliseconds(2000);
  return HttpFetchSync(url, std::move(req));
}

Status WaitReady(UpContext& c, const std::string& child, const std::string& what, seconds timeout,
                 const std::function<Result<bool>()>& ready) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string log = c.dir + "/" + child + ".log";
  while (true) {
    if (StopRequested()) return Status::Unavailable("interrupted");
    auto r = ready();
    if (!r.ok()) return r.status();
    if (*r) return Status::Ok();
    pid_t pid = c.sup.Pid(child);
    // Any child that died during start-up fails it, not only the one being waited for.
    if (std::string dead = c.sup.FirstExited(); !dead.empty()) {
      std::string dead_log = c.dir + "/" + dead + ".log";
      std::string who = dead == child ? child + (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                                            " exited before it was ready"
                                      : dead + " exited while " + child + " was starting";
      return Status::Unavailable(who + " (waiting for " + what + "); last lines of " +
                                 dead_log + ":\n" + LogTail(dead_log));
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return Status::Unavailable(child + " did not become ready within " + std::to_string(timeout.count()) +
                                 " s (waiting for " + what + "); last lines of " + log + ":\n" + LogTail(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int RunUp(const UpOptions& o) {
  if (Status s = ValidateUpOptions(o, ::geteuid() == 0); !s.ok()) return Fail(s);
  InstallStopHandlers();
  std::string dir = std::filesystem::absolute(o.data_dir.empty() ? DefaultUpDataDir() : o.data_dir).lexically_normal();
  if (!dir.empty() && dir.back() == '/') dir.pop_back();
  Supervisor sup(dir + "/up.pids.json", [](const std::string& line) { Say(line); });
  Up up(o, dir, sup);
  int rc = kExitOk;
  if (Status s = up.Start(); !s.ok()) {
    if (StopRequested()) {
      Say("interrupted during start-up");
    } else {
      std::fprintf(stderr, "oak up: %s\n", s.message().c_str());
      rc = kExitFailure;
    }
  } else {
    rc = up.Supervise();
  }
  if (g_stop_signal) Say(std::string("received ") + ::strsignal(g_stop_signal) + "; stopping everything");
  sup.StopAll();
  Say(rc == kExitOk ? "stopped" : "stopped after a failure");
  return rc;
}

void AddUpCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<UpOptions>();
  CLI::App* cmd = AddCommand(app, "up",
                             "Run root, one cluster, N nodes and an image registry on 127.0.0.1, supervised, "
                             "and deploy the demo",
                             exit_code, [o] { return RunUp(*o); });
  cmd->add_option("--data-dir", o->data_dir, "Data and logs (default: $XDG_DATA_HOME/oak or ~/.local/share/oak)")
      ->envname("OAK_UP_DATA_DIR");
  cmd->add_option("--nodes", o->nodes, "How many worker nodes")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--port", o->port, "Root API port")->capture_default_str();
  cmd->add_option("--cluster-port", o->cluster_port, "Cluster API port")->capture_default_str();
  cmd->add_option("--mqtt-port", o->mqtt_port, "The cluster's MQTT broker port")->capture_default_str();
  cmd->add_option("--registry-port", o->registry_port, "Image registry port")->capture_default_str();
  cmd->add_option("--demo-port", o->demo_port, "Host port the demo web server is mapped to")->capture_default_str();
  cmd->add_option("--runtime", o->runtime, "Node runtime: runc|simulated")
      ->check(CLI::IsMember({"runc", "simulated"}))->capture_default_str();
  cmd->add_option("--admin-password", o->admin_password,
                  "Password of Admin at the first start (default: generated into DATA_DIR/admin.password)")
      ->envname("OAK_ADMIN_PASSWORD");
  cmd->add_flag("!--no-demo", o->demo, "Do not build, push and deploy the demo application");
  cmd->add_option("--startup-timeout", o->startup_timeout_s, "Seconds each process may take to become healthy")
      ->check(CLI::Range(1, 3600))->capture_default_str();
  cmd->add_option("--deploy-timeout", o->deploy_timeout_s, "Seconds the demo may take to reach RUNNING")
      ->check(CLI::Range(1, 3600))->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "Log level of the children: trace|debug|info|warn|error")
      ->capture_default_str();
}

}  // namespace oak::cli

#include "cluster/broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/fs.h"

namespace oak::cluster {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::vector<AclRule> NodeAcl(const std::string& node_id) { return {{"nodes/" + node_id + "/#", AclAccess::kReadWrite}}; }

// Password hashing is done in-process with OpenSSL rather than by spawning mosquitto_passwd: the
// password never appears on a command line (readable by any local user through /proc), the file
// is written atomically by us (mosquitto_passwd edits in place), and no fork happens on the loop.
// The iteration count is mosquitto_passwd's default; Oak hands out random 128-bit+ passwords, so
// brute force is not the threat, and a cheap hash keeps a reconnect storm of many nodes cheap.
Result<std::string> HashMosquittoPassword(const std::string& password, int iterations) {
  unsigned char salt[12];
  unsigned char key[64];
  if (RAND_bytes(salt, sizeof salt) != 1) return Status::Internal("broker: no random bytes for a salt");
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, sizeof salt, iterations,
                        EVP_sha512(), sizeof key, key) != 1) {
    return Status::Internal("broker: PBKDF2 failed");
  }
  auto b64 = [](const unsigned char* p, int n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, n);
    out.resize(static_cast<size_t>(len));
    return out;
  };
  return "$7$" + std::to_string(iterations) + "$" + b64(salt, sizeof salt) + "$" + b64(key, sizeof key);
}

namespace {

const char* AccessWord(AclAccess a) {
  switch (a) {
    case AclAccess::kRead: return "read";
    case AclAccess::kWrite: return "write";
    case AclAccess::kReadWrite: return "readwrite";
  }
  return "readwrite";
}

// User names end up in line-oriented files and in topics: keep them to a safe alphabet.
bool ValidUser(const std::string& u) {
  if (u.empty() || u.size() > 128) return false;
  for (char c : u) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool ValidRuleTopic(const std::string& t) {
  if (t.find_first_of(" \t\r\n") != std::string::npos) return false;
  return mosquitto_sub_topic_check(t.c_str()) == MOSQ_ERR_SUCCESS;
}

std::string FindMosquitto(const std::string& configured) {
  if (!configured.empty()) return ::access(configured.c_str(), X_OK) == 0 ? configured : "";
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  for (std::string d; std::getline(ss, d, ':');) {
    std::string c = d + "/mosquitto";
    if (!d.empty() && ::access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

// True when something accepts TCP connections on host:port (wildcard hosts are probed on loopback).
bool PortAnswers(const std::string& host, uint16_t port) {
  std::string h = (host.empty() || host == "0.0.0.0") ? "127.0.0.1" : host == "::" ? "::1" : host;
  bool v6 = h.find(':') != std::string::npos;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int rc = -1;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    if (::inet_pton(AF_INET6, h.c_str(), &a.sin6_addr) == 1) rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, h.c_str(), &a.sin_addr) == 1) rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ::close(fd);
  return rc == 0;
}

std::string Tail(const std::string& path, size_t n = 600) {
  auto r = ReadFile(path);
  if (!r.ok()) return "";
  return r->size() > n ? r->substr(r->size() - n) : *r;
}

}  // namespace

Broker::Broker(asio::io_context& io, BrokerOptions opts) : io_(io), opts_(std::move(opts)), timer_(io) {}

Broker::~Broker() {
  Stop();
  *alive_ = false;
}

std::string Broker::dir() const { return opts_.data_dir + "/mosquitto"; }

Status Broker::Start() {
  if (supervising_) return Status::Conflict("broker: already started");
  if (opts_.data_dir.empty()) return Status::Invalid("broker: data_dir is required");
  if (!ValidUser(opts_.admin_user) || opts_.admin_password.empty()) {
    return Status::Invalid("broker: admin user and password are required");
  }
  binary_ = FindMosquitto(opts_.mosquitto_path);
  if (binary_.empty()) {
    return Status::Unavailable("broker: mosquitto not found (install the Debian package 'mosquitto')");
  }
  if (PortAnswers(opts_.listen_host, opts_.port)) {
    return Status::Conflict("broker: something already listens on " + opts_.listen_host + ":" + std::to_string(opts_.port));
  }
  OAK_RETURN_IF_ERROR(LoadClients());
  OAK_RETURN_IF_ERROR(WriteAuthFiles());
  OAK_RETURN_IF_ERROR(WriteConfig());
  OAK_RETURN_IF_ERROR(Spawn());

  auto deadline = std::chrono::steady_clock::now() + opts_.start_timeout;
  while (!PortAnswers(opts_.listen_host, opts_.port)) {
    if (ReapIfExited() || std::chrono::steady_clock::now() > deadline) {
      Stop();
      return Status::Unavailable("broker: mosquitto did not come up; log: " + Tail(dir() + "/mosquitto.out") +
                                 Tail(dir() + "/mosquitto.log"));
    }
    std::this_thread::sleep_for(20ms);
  }
  supervising_ = true;
  backoff_ = opts_.restart_min;
  ArmSupervisor();
  spdlog::info("msg=\"mqtt broker up\" pid={} listen={}:{}", pid_, opts_.listen_host, opts_.port);
  return Status::Ok();
}

void Broker::Stop() {
  supervising_ = false;
  timer_.cancel();
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + opts_.stop_grace;
  while (!ReapIfExited()) {
    if (std::chrono::steady_clock::now() > deadline) {
      spdlog::warn("msg=\"mqtt broker ignored SIGTERM, killing\" pid={}", pid_);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
}

bool Broker::ReapIfExited() {
  if (pid_ <= 0) return true;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == 0) return false;
  if (r == pid_) {
    spdlog::log(supervising_ ? spdlog::level::warn : spdlog::level::info, "msg=\"mqtt broker exited\" pid={} status={}",
                pid_, st);
  }
  pid_ = -1;  // also when waitpid failed (ECHILD): the child is not ours to wait for any more
  return true;
}

Status Broker::Spawn() {
  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::string conf = conf_path();
  std::string out = dir() + "/mosquitto.out";
  std::vector<char*> argv{binary_.data(), const_cast<char*>("-c"), conf.data(), nullptr};
  pid_t pid = ::fork();
  if (pid < 0) return Status::Internal("broker: fork failed");
  if (pid == 0) {
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::close_range(3, ~0U, 0);  // no listening sockets or database files leak into the broker
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // asio may have blocked signals in this thread
    ::setpgid(0, 0);                             // a terminal's Ctrl-C goes to us; we stop it
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);          // and if we crash it goes too
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  started_at_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

void Broker::ArmSupervisor() {
  // Polling waitpid for our own pid (instead of a SIGCHLD signal_set) leaves SIGCHLD to whoever
  // else in the process supervises children, and a 200 ms detection delay is plenty.
  timer_.expires_after(200ms);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    Supervise();
  });
}

void Broker::Supervise() {
  if (!supervising_) return;
  auto now = std::chrono::steady_clock::now();
  if (pid_ > 0 && ReapIfExited()) {
    // A broker that had been up for a while gets a fresh, short back-off.
    if (now - started_at_ > 30s) backoff_ = opts_.restart_min;
    restart_at_ = now + backoff_;
    spdlog::warn("msg=\"mqtt broker died, restarting\" in_ms={}", backoff_.count());
    backoff_ = std::min(backoff_ * 2, opts_.restart_max);
  }
  if (pid_ <= 0 && now >= restart_at_) {
    // Rewrite the config in case the data dir was tampered with, then respawn; connecting
    // clients retry by themselves, so no need to block the loop until the port answers.
    Status s = WriteConfig();
    if (s.ok()) s = Spawn();
    if (s.ok()) {
      ++restarts_;
      spdlog::info("msg=\"mqtt broker up\" pid={} listen={}:{} restarts={}", pid_, opts_.listen_host, opts_.port,
                   restarts_);
    } else {
      spdlog::error("msg=\"mqtt broker restart failed\" error=\"{}\"", s.ToString());
      restart_at_ = now + backoff_;
    }
  }
  ArmSupervisor();
}

Status Broker::AddClient(const std::string& user, const std::string& password, std::vector<AclRule> rules) {
  return AddClients({ClientSpec{user, password, std::move(rules)}});
}

Status Broker::AddClients(std::vector<ClientSpec> specs) {
  OAK_RETURN_IF_ERROR(LoadClients());
  std::vector<std::pair<std::string, Client>> fresh;
  for (auto& spec : specs) {
    if (!ValidUser(spec.user)) return Status::Invalid("broker: bad user name '" + spec.user + "'");
    if (spec.user == opts_.admin_user) return Status::Forbidden("broker: the admin user is managed by the broker");
    if (spec.password.empty()) return Status::Invalid("broker: empty password");
    for (const auto& r : spec.rules) {
      if (!ValidRuleTopic(r.topic)) return Status::Invalid("broker: bad ACL topic '" + r.topic + "'");
    }
    auto hash = HashMosquittoPassword(spec.password);
    if (!hash.ok()) return hash.status();
    fresh.emplace_back(spec.user, Client{std::move(*hash), std::move(spec.rules)});
  }
  auto before = clients_;
  for (auto& [user, client] : fresh) clients_[user] = std::move(client);
  if (Status s = WriteAuthFiles(); !s.ok()) {
    clients_ = std::move(before);
    return s;
  }
  Reload();
  return Status::Ok();
}

Status Broker::RemoveClient(const std::string& user) {
  OAK_RETURN_IF_ERROR(LoadClients());
  if (clients_.erase(user) == 0) return Status::NotFound("broker: no user '" + user + "'");
  OAK_RETURN_IF_ERROR(WriteAuthFiles());
  Reload();
  return Status::Ok();
}

void Broker::Reload() {
  // mosquitto rereads password and ACL files on SIGHUP and drops connected clients whose
  // credentials are gone. Before Start() the files alone are enough.
  if (pid_ > 0) ::kill(pid_, SIGHUP);
}

// The files are the only store of credentials: Oak never keeps clear passwords, and a restarted
// cluster re-reads users from `passwd` and their rules from `acl` (both written by us only).
// Runs once, before the first change or start, so that no call can overwrite users it has not
// read yet.
Status Broker::LoadClients() {
  if (loaded_) return Status::Ok();
  OAK_RETURN_IF_ERROR(EnsureDir(dir(), 0700));
  loaded_ = true;
  auto pw = ReadFile(dir() + "/passwd");
  if (!pw.ok()) return Status::Ok();  // first start
  std::istringstream in(*pw);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string user = line.substr(0, colon);
    if (user != opts_.admin_user && ValidUser(user)) clients_[user].hash = line.substr(colon + 1);
  }
  auto acl = ReadFile(dir() + "/acl");
  if (!acl.ok()) return Status::Ok();
  std::istringstream ain(*acl);
  Client* cur = nullptr;
  for (std::string line; std::getline(ain, line);) {
    std::istringstream ls(line);
    std::string kw, a, b;
    ls >> kw >> a >> b;
    if (kw == "user") {
      auto it = clients_.find(a);
      cur = it == clients_.end() ? nullptr : &it->second;
    } else if (kw == "topic" && cur && !b.empty()) {
      AclAccess acc = a == "read" ? AclAccess::kRead : a == "write" ? AclAccess::kWrite : AclAccess::kReadWrite;
      cur->rules.push_back({b, acc});
    }
  }
  return Status::Ok();
}

Status Broker::WriteAuthFiles() {
  auto admin_hash = HashMosquittoPassword(opts_.admin_password);
  if (!admin_hash.ok()) return admin_hash.status();
  std::string pw = opts_.admin_user + ":" + *admin_hash + "\n";
  // No `topic` or `pattern` line before the first `user` line: those would apply to anonymous
  // clients (refused anyway) and, for patterns, to every user.
  std::string acl = "# Generated by oak; rewritten on every change.\nuser " + opts_.admin_user + "\ntopic readwrite #\n";
  for (const auto& [user, c] : clients_) {
    pw += user + ":" + c.hash + "\n";
    acl += "\nuser " + user + "\n";
    for (const auto& r : c.rules) acl += std::string("topic ") + AccessWord(r.access) + " " + r.topic + "\n";
  }
  // The ACL first: if the password file then cannot be written (a full disk), a user the ACL knows
  // but passwd does not cannot log in, and one passwd still knows has no topics left. Never the
  // other way round (a user logged in with no rules, or rules for a user nobody removed).
  Status s = WriteFileAtomic(dir() + "/acl", acl, 0600);
  if (s.ok()) s = WriteFileAtomic(dir() + "/passwd", pw, 0600);
  return InDataDir(std::move(s), opts_.data_dir);
}

Status Broker::WriteConfig() {
  // mosquitto started as root switches to the `user` option's account (default "mosquitto"),
  // which could not read our 0600 files; naming our own account keeps it at our privileges.
  std::string me = "mosquitto";
  if (passwd* p = ::getpwuid(::geteuid())) me = p->pw_name;
  std::string d = dir();
  std::ostringstream c;
  c << "# Generated by oak from BrokerOptions; rewritten on every start.\n"
    << "per_listener_settings false\n"
    << "user " << me << "\n"
    << "listener " << opts_.port << " " << opts_.listen_host << "\n"
    << "allow_anonymous false\n"
    << "password_file " << d << "/passwd\n"
    << "acl_file " << d << "/acl\n"
    << "persistence false\n"
    << "max_inflight_messages " << opts_.max_inflight << "\n"
    << "max_queued_messages " << opts_.max_queued << "\n"
    << "set_tcp_nodelay true\n"
    << "log_dest file " << d << "/mosquitto.log\n"
    << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
    << "connection_messages true\n"
    << "log_timestamp_format %Y-%m-%dT%H:%M:%S\n";
  return WriteFileAtomic(conf_path(), c.str(), 0600);
}

}  // namespace oak::cluster

#include "integration/helpers.h"

#include <arpa/inet.h>
#include <jwt.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/http_client.h"

namespace oak::it {

// --- SLA builders -------------------------------------------------------------------------------

json Microservice(const std::string& name, const std::string& ns, json extra) {
  json ms = {{"microserviceID", ""},
             {"microservice_name", name},
             {"microservice_namespace", ns},
             {"virtualization", "container"},
             {"cmd", json::array({"sleep", "3600"})},
             {"memory", 100},
             {"vcpus", 1},
             {"vgpus", 0},
             {"vtpus", 0},
             {"bandwidth_in", 0},
             {"bandwidth_out", 0},
             {"storage", 0},
             {"code", "docker.io/library/alpine:3.19"},
             {"state", ""},
             {"port", "8080"},
             {"added_files", json::array()}};
  for (auto& [k, v] : extra.items()) ms[k] = v;
  return ms;
}

json Application(const std::string& name, const std::string& ns, json microservices) {
  return {{"applicationID", ""},
          {"application_name", name},
          {"application_namespace", ns},
          {"application_desc", "integration test application"},
          {"microservices", std::move(microservices)}};
}

json Sla(json applications) {
  return {{"sla_version", "v2.0"}, {"customerID", "Admin"}, {"applications", std::move(applications)}};
}

json SimpleSla(const std::string& app_name, int n_services, const std::string& ns) {
  json services = json::array();
  for (int i = 0; i < n_services; ++i) services.push_back(Microservice("s" + std::to_string(i), ns));
  return Sla(json::array({Application(app_name, ns, services)}));
}

// --- calls --------------------------------------------------------------------------------------

ApiResponse Put(const ApiClient& c, const std::string& target, const json& body) {
  return c.Call(verb::verb::put, target, body.dump());
}

ApiResponse PostRaw(const ApiClient& c, const std::string& target, const std::string& body) {
  return c.Call(verb::verb::post, target, body);
}

ApiClient MakeUser(const RootProcess& root, const ApiClient& admin, const std::string& name,
                   const std::string& password, json roles) {
  auto r = admin.Post("/api/auth/register",
                      {{"name", name}, {"password", password}, {"email", name + "@example.org"}, {"roles", roles}});
  EXPECT_TRUE(r.status == 200 || r.status == 201) << "register " << name << ": " << r.status << " " << r.body;
  ApiClient c = root.Client();
  auto login = c.Login(name, password);
  EXPECT_EQ(login.status, 200u) << "login " << name << ": " << login.body;
  return c;
}

json CreateApp(const ApiClient& c, const json& sla, const std::string& name) {
  auto r = c.Post("/api/application/", sla);
  EXPECT_EQ(r.status, 200u) << r.body << r.error;
  if (r.status != 200 || !r.json.is_array()) return json();
  for (auto& a : r.json)
    if (a.value("application_name", "") == name) return a;
  ADD_FAILURE() << "application " << name << " missing from the create answer: " << r.body;
  return json();
}

bool Healthy(const RootProcess& root) {
  auto r = root.Client().Get("/healthz");
  return r.status == 200;
}

// --- shapes -------------------------------------------------------------------------------------

bool IsHex24(const std::string& s) {
  if (s.size() != 24) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string Oid(const json& doc) {
  if (!doc.is_object()) return "";
  auto it = doc.find("_id");
  if (it == doc.end() || !it->is_object()) return "";
  auto o = it->find("$oid");
  return o != it->end() && o->is_string() ? o->get<std::string>() : "";
}

std::string FieldOf(const std::string& message) {
  auto colon = message.find(':');
  if (colon == std::string::npos || colon == 0) return "";
  std::string f = message.substr(0, colon);
  for (char c : f)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '[' || c == ']' || c == '$'))
      return "";
  return f;
}

// --- JWT ----------------------------------------------------------------------------------------

namespace {
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

std::string Base64UrlEncode(const std::string& bytes) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64Url[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kB64Url[(acc << (6 - bits)) & 0x3f];
  return out;
}

std::string Base64UrlDecode(const std::string& text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    if (ch == '=') break;
    const char* p = std::strchr(kB64Url, ch == '+' ? '-' : ch == '/' ? '_' : ch);
    if (!p || !*p) return "";
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64Url);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

json JwtPayload(const std::string& token) {
  auto a = token.find('.');
  auto b = a == std::string::npos ? a : token.find('.', a + 1);
  if (b == std::string::npos) return json();
  return json::parse(Base64UrlDecode(token.substr(a + 1, b - a - 1)), nullptr, false);
}

std::string SignHs256(const json& claims, const std::string& key) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) return "";
  std::string out;
  if (jwt_add_grants_json(jwt, claims.dump().c_str()) == 0 &&
      jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) == 0) {
    if (char* s = jwt_encode_str(jwt)) {
      out = s;
      free(s);
    }
  }
  jwt_free(jwt);
  return out;
}

std::string ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// --- raw HTTP -----------------------------------------------------------------------------------

namespace {

int ConnectTo(const std::string& base_url) {
  auto url = ParseUrl(base_url);
  if (!url.ok()) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(url->port);
  ::inet_pton(AF_INET, url->host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads until EOF, error or the deadline; answers whether EOF was reached.
bool ReadUntilClosed(int fd, std::string& into, std::chrono::steady_clock::time_point deadline) {
  char buf[8192];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) return true;  // reset counts as closed
    into.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

RawResponse RawExchange(const std::string& base_url, const std::string& request, std::chrono::milliseconds timeout) {
  RawResponse out;
  int fd = ConnectTo(base_url);
  if (fd < 0) {
    out.error = "connect failed";
    return out;
  }
  std::string data;
  if (!SendAll(fd, request)) out.error = "send failed";
  else if (!ReadUntilClosed(fd, data, std::chrono::steady_clock::now() + timeout)) out.error = "no close before timeout";
  ::close(fd);
  auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    if (out.error.empty()) out.error = "no complete answer: " + data;
    return out;
  }
  std::istringstream head(data.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.size() > 12) out.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out.headers[name] = value;
  }
  out.body = data.substr(head_end + 4);
  return out;
}

double SecondsUntilClosed(const std::string& base_url, const std::string& partial, std::chrono::milliseconds limit) {
  int fd = ConnectTo(base_url);
  if (fd < 0) return -2;
  auto start = std::chrono::steady_clock::now();
  if (!partial.empty()) SendAll(fd, partial);
  std::string ignored;
  bool closed = ReadUntilClosed(fd, ignored, start + limit);
  ::close(fd);
  if (!closed) return -1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// --- metrics ------------------------------------------------------------------------------------

std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    out[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return out;
}

// --- clusters -----------------------------------------------------------------------------------

Heartbeater::Heartbeater(FakeCluster& fake, std::chrono::milliseconds period) {
  thread_ = std::thread([this, &fake, period] {
    while (!stop_) {
      fake.Heartbeat();
      auto until = std::chrono::steady_clock::now() + period;
      while (!stop_ && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
}

Heartbeater::~Heartbeater() {
  stop_ = true;
  thread_.join();
}

FakeClusterConfig ClusterCfg(const std::string& name, int64_t memory_mb, unsigned deploy_answer, int64_t vcpus) {
  FakeClusterConfig c;
  c.name = name;
  c.memory_mb = memory_mb;
  c.deploy_answer = deploy_answer;
  c.vcpus = vcpus;
  return c;
}

std::unique_ptr<FakeCluster> StartFake(const RootProcess& root, FakeClusterConfig cfg) {
  auto fake = std::make_unique<FakeCluster>(root.url(), root.config().cluster_token, std::move(cfg));
  Status s = fake->Register();
  EXPECT_TRUE(s.ok()) << "fake cluster registration: " << s.message();
  EXPECT_EQ(fake->Heartbeat(), 200u) << "first heartbeat";
  return fake;
}

json InstanceOf(const ApiClient& c, const std::string& service_id, int64_t number) {
  auto r = c.Get("/api/service/" + service_id);
  if (r.status != 200 || !r.json.is_object() || !r.json.contains("instance_list")) return json();
  for (auto& i : r.json["instance_list"])
    if (i.value("instance_number", int64_t{-1}) == number) return i;
  return json();
}

json WaitInstanceStatus(const ApiClient& c, const std::string& service_id, int64_t number, const std::string& status,
                        std::chrono::milliseconds timeout) {
  json last;
  WaitFor(
      [&] {
        last = InstanceOf(c, service_id, number);
        return last.is_object() && last.value("status", "") == status;
      },
      timeout);
  return last;
}

}  // namespace oak::it

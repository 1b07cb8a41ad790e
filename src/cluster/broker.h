// The cluster's MQTT broker: mosquitto run as a supervised child process, with authentication
// (password file) and authorisation (ACL file) generated and owned by Oak. See docs/mqtt.md.
//
// All methods run on the io_context's thread (the cluster's event loop). Start() and Stop() block
// that thread briefly (until the port answers / the child has exited); AddClient and RemoveClient
// only write two small files and send SIGHUP.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/status.h"

namespace oak::cluster {

enum class AclAccess { kRead, kWrite, kReadWrite };

struct AclRule {
  std::string topic;  // may contain MQTT wildcards
  AclAccess access = AclAccess::kReadWrite;
  bool operator==(const AclRule&) const = default;
};

// What a worker node may touch (SPEC §6): everything under its own subtree, nothing else.
std::vector<AclRule> NodeAcl(const std::string& node_id);

struct BrokerOptions {
  std::string data_dir;  // files go to DATA_DIR/mosquitto/
  std::string listen_host = "127.0.0.1";
  uint16_t port = 10003;
  std::string admin_user = "oak-cluster";
  std::string admin_password;  // required; rehashed on every Start()
  // Broker-side window of unacknowledged QoS 1/2 messages per client, and the queue behind it.
  // Mosquitto's defaults (20 / 1000) cap one connection at a few thousand msg/s (SPEC §6).
  int max_inflight = 10000;
  int max_queued = 100000;
  std::string mosquitto_path;  // empty: /usr/sbin/mosquitto, /usr/local/sbin/mosquitto, then $PATH
  std::chrono::milliseconds start_timeout{10'000};
  std::chrono::milliseconds stop_grace{3'000};
  std::chrono::milliseconds restart_min{200};
  std::chrono::milliseconds restart_max{5'000};
};

class Broker {
 public:
  Broker(boost::asio::io_context& io, BrokerOptions opts);
  ~Broker();  // Stop()
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Writes the configuration, keeps the credentials already in the data dir, starts mosquitto and
  // waits until its port accepts connections. Afterwards an unexpected exit is restarted with
  // back-off. kUnavailable when mosquitto is missing or does not come up, kConflict when
  // something else already listens on the port.
  Status Start();
  // SIGTERM, then SIGKILL after stop_grace; no restart afterwards. Idempotent.
  void Stop();

  // Creates or replaces a user (password hashed, never stored in clear) with exactly `rules`, and
  // makes a running broker reload. Existing connections of a removed user are dropped by the
  // broker on reload. The admin user cannot be changed here.
  Status AddClient(const std::string& user, const std::string& password, std::vector<AclRule> rules);
  struct ClientSpec {
    std::string user, password;
    std::vector<AclRule> rules;
  };
  // Like AddClient for many users at once: the files are written and the broker reloaded once.
  // All or nothing: an invalid entry fails the call before anything changes.
  Status AddClients(std::vector<ClientSpec> specs);
  Status RemoveClient(const std::string& user);
  bool HasClient(const std::string& user) const { return clients_.count(user) > 0; }

  pid_t pid() const { return pid_; }     // -1 while not running
  int restarts() const { return restarts_; }
  std::string dir() const;                // DATA_DIR/mosquitto
  std::string conf_path() const { return dir() + "/mosquitto.conf"; }

 private:
  struct Client {
    std::string hash;  // mosquitto "$7$" line content after "user:"
    std::vector<AclRule> rules;
  };

  Status LoadClients();
  Status WriteAuthFiles();
  Status WriteConfig();
  Status Spawn();
  bool ReapIfExited();  // true if the child has exited (and was reaped)
  void ArmSupervisor();
  void Supervise();
  void Reload();

  boost::asio::io_context& io_;
  BrokerOptions opts_;
  std::string binary_;
  std::map<std::string, Client> clients_;  // without the admin user, which is derived from opts_
  bool loaded_ = false;                     // clients_ reflects the files in dir()
  pid_t pid_ = -1;
  bool supervising_ = false;  // Start() succeeded and Stop() has not run
  int restarts_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point started_at_{};
  std::chrono::steady_clock::time_point restart_at_{};
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards timer handlers
};

// mosquitto's password hash format: "$7$<iterations>$<b64 salt>$<b64 PBKDF2-HMAC-SHA512>".
Result<std::string> HashMosquittoPassword(const std::string& password, int iterations = 101);

}  // namespace oak::cluster

// Placement decisions shared by the root (cluster level) and cluster (node level) schedulers.
// The library is pure: no I/O, no clocks, no globals; the caller owns reservations and state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace oak::scheduler {

struct Resources {
  int64_t vcpus = 0;
  int64_t memory_mb = 0;
  int64_t storage_mb = 0;
  int64_t vgpus = 0;
};

struct GeoPoint {
  double lat = 0;
  double lon = 0;
};

struct Candidate {          // a cluster (root level) or a node (cluster level)
  std::string id;
  std::string name;         // cluster_name or node host name
  bool active = true;
  Resources free;           // free now, already net of reservations
  Resources total;          // for normalising scores; 0 = unknown
  double cpu_percent = 0;   // current load 0..100
  double memory_percent = 0;
  std::vector<std::string> virtualization;  // e.g. "container", "unikernel"
  std::vector<std::string> addons;          // supported add-ons
  std::vector<std::string> arch;            // e.g. "amd64", "arm64"; a cluster lists all its nodes' arches
  std::optional<GeoPoint> location;
  double radius_km = 0;     // a cluster's area radius; 0 for nodes
  std::vector<uint32_t> used_ports;  // node level: host ports published there, sorted, as in Request
};

enum class Level { kCluster, kNode };
enum class Policy { kSpread, kBinpack, kFirstFit };

struct Request {            // what one instance of a service needs
  Resources need;
  std::string virtualization;                 // required by RequestFromService; empty here = any
  std::vector<std::string> arch;              // any of these; empty = any
  std::string target_node;                    // SLA target_node (node level only)
  std::string direct_cluster, direct_node;    // from `direct` constraints
  std::vector<std::string> allowed_clusters;  // from `clusters` constraints; empty = any
  std::vector<std::string> needs_addons;      // from `addons`
  std::optional<GeoPoint> geo;
  double geo_threshold_km = 0;                // from `geo`
  std::vector<uint32_t> host_ports;           // from `port`: published host ports, (port << 1) | udp
};

// A host port as Request::host_ports and Candidate::used_ports hold it.
inline uint32_t PortKey(uint16_t port, bool udp) { return (uint32_t{port} << 1) | (udp ? 1u : 0u); }

// Builds a Request from a stored service document (Oakestra SLA microservice fields: memory, vcpus,
// vgpus, storage, virtualization, arch[], target_node, constraints[] with types
// direct/clusters/addons/geo/latency; latency is accepted and ignored for now). Missing or null
// numbers mean 0; fractional amounts round up. Wrong types -> Status::Invalid naming the field.
Result<Request> RequestFromService(const nlohmann::json& service);

struct Decision {
  int index = -1;           // into the candidate span; -1 when nothing fits
  std::string status;       // on failure: one of the scheduling-failure statuses (SPEC section 3)
  std::string detail;       // on failure: which constraint no candidate met, how many were rejected by what
  bool ok() const { return index >= 0; }
};

// One pass over `candidates`; status and detail are built only when nothing fits.
Decision Schedule(Level level, const Request& req, std::span<const Candidate> candidates, Policy policy);

Result<Policy> ParsePolicy(std::string_view name);  // "spread" | "binpack" | "firstfit"
std::string_view PolicyName(Policy);
double DistanceKm(GeoPoint a, GeoPoint b);            // haversine, mean Earth radius

}  // namespace oak::scheduler

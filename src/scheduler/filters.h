// Per-candidate filters. Everything here runs once per candidate on the hot path, so it must not
// allocate, build strings or call trigonometry unless the cheap geo bounds are inconclusive.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/scheduler.h"

namespace oak::scheduler::internal {

inline constexpr double kEarthRadiusKm = 6371.0088;
inline constexpr double kDegToRad = std::numbers::pi / 180.0;

// Values derived from a Request once per decision.
struct Prepared {
  Level level = Level::kNode;
  const Request* req = nullptr;
  std::string_view pin;        // name every candidate must carry; empty = no pin
  bool pin_conflict = false;   // target_node and direct node name different nodes: nothing can match
  bool use_allowed = false;    // cluster level and allowed_clusters is non-empty
  bool has_geo = false;
  double geo_lat_rad = 0;
  double geo_lon_rad = 0;
  double geo_cos_lat = 1;
};

Prepared Prepare(Level level, const Request& req);

// Exact haversine on radians; shared by DistanceKm and the geo filter's slow path.
double HaversineKm(double lat1_rad, double lon1_rad, double lat2_rad, double lon2_rad);

// Equality for the short names this library compares (runtimes, arches, add-ons, node names):
// two overlapping fixed-size loads stay inside [0, n) and avoid a memcmp call per candidate.
inline bool SameText(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  if (n >= 8 && n <= 16) {
    uint64_t x0, x1, y0, y1;
    std::memcpy(&x0, x, 8);
    std::memcpy(&y0, y, 8);
    std::memcpy(&x1, x + n - 8, 8);
    std::memcpy(&y1, y + n - 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  if (n >= 4 && n < 8) {
    uint32_t x0, x1, y0, y1;
    std::memcpy(&x0, x, 4);
    std::memcpy(&y0, y, 4);
    std::memcpy(&x1, x + n - 4, 4);
    std::memcpy(&y1, y + n - 4, 4);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  return std::memcmp(x, y, n) == 0;
}

inline bool Contains(const std::vector<std::string>& haystack, std::string_view needle) {
  for (const auto& s : haystack) {
    if (SameText(s, needle)) return true;
  }
  return false;
}

inline bool SupportsVirtualization(const Prepared& p, const Candidate& c) {
  return p.req->virtualization.empty() || Contains(c.virtualization, p.req->virtualization);
}

inline bool IsAllowed(const Prepared& p, const Candidate& c) {
  return !p.use_allowed || Contains(p.req->allowed_clusters, c.name);
}

inline bool MatchesArch(const Prepared& p, const Candidate& c) {
  if (p.req->arch.empty()) return true;
  for (const auto& a : p.req->arch) {
    if (Contains(c.arch, a)) return true;
  }
  return false;
}

inline bool HasAddons(const Prepared& p, const Candidate& c) {
  for (const auto& a : p.req->needs_addons) {
    if (!Contains(c.addons, a)) return false;
  }
  return true;
}

inline double GeoLimitKm(const Prepared& p, const Candidate& c) {
  return p.req->geo_threshold_km + (p.level == Level::kCluster ? c.radius_km : 0.0);
}

// R*|dlat| is a lower bound of the great-circle distance; walking the request point's parallel
// then the meridian gives the upper bound R*(cos(lat_req)*|dlon| + |dlat|). Only candidates
// between the two bounds pay for the exact haversine.
inline bool WithinGeo(const Prepared& p, const Candidate& c) {
  if (!p.has_geo) return true;
  if (!c.location) return false;
  const double limit = GeoLimitKm(p, c);
  const double lat = c.location->lat * kDegToRad;
  const double lon = c.location->lon * kDegToRad;
  const double dlat = std::fabs(lat - p.geo_lat_rad);
  if (dlat * kEarthRadiusKm > limit) return false;
  double dlon = std::fabs(lon - p.geo_lon_rad);
  if (dlon > std::numbers::pi) dlon = 2 * std::numbers::pi - dlon;  // the shorter way round
  if ((p.geo_cos_lat * dlon + dlat) * kEarthRadiusKm <= limit) return true;
  return HaversineKm(p.geo_lat_rad, p.geo_lon_rad, lat, lon) <= limit;
}

// Active and resources: plain loads from the candidate's first cache lines. Bitwise & keeps it
// branch-free, so a random mix of full and free candidates costs no mispredictions.
inline bool CheapPass(const Resources& need, const Candidate& c) {
  const Resources& f = c.free;
  return static_cast<bool>(static_cast<int>(c.active) & (need.vcpus <= f.vcpus) &
                           (need.memory_mb <= f.memory_mb) & (need.storage_mb <= f.storage_mb) &
                           (need.vgpus <= f.vgpus));
}

// Node level: no host port the instance publishes is taken there (a node maps each only once).
inline bool PortsFree(const Prepared& p, const Candidate& c) {
  for (uint32_t port : p.req->host_ports) {
    if (std::binary_search(c.used_ports.begin(), c.used_ports.end(), port)) return false;
  }
  return true;
}

// The checks that compare strings or do geometry; policies run them only on candidates that would
// change the outcome. Geo goes first: it reads the candidate inline, the others chase pointers.
inline bool Qualifies(const Prepared& p, const Candidate& c) {
  if (!p.pin.empty() && !SameText(c.name, p.pin)) return false;
  return WithinGeo(p, c) && SupportsVirtualization(p, c) && IsAllowed(p, c) && MatchesArch(p, c) &&
         HasAddons(p, c) && PortsFree(p, c);
}

inline bool Passes(const Prepared& p, const Candidate& c) {
  return CheapPass(p.req->need, c) && Qualifies(p, c);
}

}  // namespace oak::scheduler::internal

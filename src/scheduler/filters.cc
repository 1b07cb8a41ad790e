#include "scheduler/filters.h"

#include <cmath>

namespace oak::scheduler::internal {

Prepared Prepare(Level level, const Request& req) {
  Prepared p;
  p.level = level;
  p.req = &req;
  if (level == Level::kCluster) {
    p.pin = req.direct_cluster;
    p.use_allowed = !req.allowed_clusters.empty();
  } else if (!req.direct_node.empty() && !req.target_node.empty()) {
    p.pin = req.direct_node;
    p.pin_conflict = req.direct_node != req.target_node;
  } else {
    p.pin = req.direct_node.empty() ? std::string_view(req.target_node) : std::string_view(req.direct_node);
  }
  if (req.geo) {
    p.has_geo = true;
    p.geo_lat_rad = req.geo->lat * kDegToRad;
    p.geo_lon_rad = req.geo->lon * kDegToRad;
    p.geo_cos_lat = std::cos(p.geo_lat_rad);
  }
  return p;
}

}  // namespace oak::scheduler::internal

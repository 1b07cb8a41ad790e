#include <algorithm>
#include <cmath>

#include "scheduler/filters.h"
#include "scheduler/scheduler.h"

namespace oak::scheduler {
namespace internal {

double HaversineKm(double lat1_rad, double lon1_rad, double lat2_rad, double lon2_rad) {
  const double s_lat = std::sin((lat2_rad - lat1_rad) / 2);
  const double s_lon = std::sin((lon2_rad - lon1_rad) / 2);
  double a = s_lat * s_lat + std::cos(lat1_rad) * std::cos(lat2_rad) * s_lon * s_lon;
  // Rounding can push a just outside [0, 1] for antipodal or identical points.
  a = std::clamp(a, 0.0, 1.0);
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(a));
}

}  // namespace internal

double DistanceKm(GeoPoint a, GeoPoint b) {
  using internal::kDegToRad;
  return internal::HaversineKm(a.lat * kDegToRad, a.lon * kDegToRad, b.lat * kDegToRad,
                               b.lon * kDegToRad);
}

}  // namespace oak::scheduler

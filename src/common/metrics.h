// Request counters and a latency histogram, rendered in the Prometheus text format. Gauges that
// come from state are appended by the caller at scrape time.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace oak {

class HttpMetrics {
 public:
  void Observe(const std::string& route, const std::string& method, unsigned status, double seconds);
  // Appends oak_http_requests_total and oak_http_request_duration_seconds.
  void Render(std::string& out) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  std::map<std::tuple<std::string, std::string, unsigned>, uint64_t> requests_;
  std::array<uint64_t, kBuckets.size()> bucket_counts_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Escapes a label value for the text format.
std::string PromLabel(std::string_view v);

}  // namespace oak

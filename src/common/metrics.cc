#include "common/metrics.h"

#include <fmt/format.h>

namespace oak {

std::string PromLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void HttpMetrics::Observe(const std::string& route, const std::string& method, unsigned status, double seconds) {
  ++requests_[{route, method, status}];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++bucket_counts_[i];
  ++count_;
  sum_ += seconds;
}

void HttpMetrics::Render(std::string& out) const {
  out += "# HELP oak_http_requests_total HTTP requests by route, method and status code.\n";
  out += "# TYPE oak_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out += fmt::format("oak_http_requests_total{{route=\"{}\",method=\"{}\",code=\"{}\"}} {}\n", PromLabel(route),
                       method, status, n);
  }
  out += "# HELP oak_http_request_duration_seconds Time from a complete request to its answer being written.\n";
  out += "# TYPE oak_http_request_duration_seconds histogram\n";
  for (size_t i = 0; i < kBuckets.size(); ++i)
    out += fmt::format("oak_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", kBuckets[i], bucket_counts_[i]);
  out += fmt::format("oak_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", count_);
  out += fmt::format("oak_http_request_duration_seconds_sum {}\n", sum_);
  out += fmt::format("oak_http_request_duration_seconds_count {}\n", count_);
}

}  // namespace oak

// Human-readable output of the client commands: aligned tables and detail views over the API's
// documents. Pure functions of JSON to text, so that they can be tested without a server.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace oak::cli {

// Columns are left-aligned and separated by two spaces; the last column is not padded, so that no
// line ends in blanks.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : rows_{std::move(headers)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size() - 1; }
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] holds the headers
};

// A JSON value as a table cell: strings as they are, null/absent as "-", anything else dumped.
std::string Cell(const nlohmann::json& doc, const char* key);

// "#0 RUNNING, #1 FAILED" for a few instances; counts per status ("12: 10 RUNNING, 2 FAILED") for
// many; "-" for none.
std::string InstancesSummary(const nlohmann::json& instance_list);

std::string AppsTable(const nlohmann::json& apps);
std::string ServicesTable(const nlohmann::json& services);
std::string ClustersTable(const nlohmann::json& clusters);
// Nodes as GET /api/nodes answers them (each with its cluster_name when listed by the root).
std::string NodesTable(const nlohmann::json& nodes);
// One application and its services.
std::string AppDetail(const nlohmann::json& app, const nlohmann::json& services);
// One service: its fields, then one row per instance.
std::string ServiceDetail(const nlohmann::json& svc);

}  // namespace oak::cli

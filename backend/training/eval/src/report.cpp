#include "mf/eval/report.h"

#include <cmath>
#include <limits>

#include "mf/core/error.h"

namespace mf::eval {

namespace {

constexpr int kSchema = 1;

void require(bool cond, const std::string& msg) { check(cond, ErrorCode::BadInput, "eval report: " + msg); }

const nlohmann::json& field(const nlohmann::json& j, const std::string& name, const std::string& where) {
  require(j.is_object(), where + " must be a JSON object");
  const auto it = j.find(name);
  require(it != j.end(), where + ": missing field '" + name + "'");
  return *it;
}

std::string string_field(const nlohmann::json& j, const std::string& name, const std::string& where) {
  const nlohmann::json& v = field(j, name, where);
  require(v.is_string(), where + ": field '" + name + "' must be a string");
  return v.get<std::string>();
}

bool bool_field(const nlohmann::json& j, const std::string& name, const std::string& where) {
  const nlohmann::json& v = field(j, name, where);
  require(v.is_boolean(), where + ": field '" + name + "' must be true or false");
  return v.get<bool>();
}

}  // namespace

bool beats(double model_value, double baseline_value, bool higher_is_better) {
  if (std::isnan(model_value) || std::isnan(baseline_value)) return false;
  return higher_is_better ? model_value > baseline_value : model_value < baseline_value;
}

ReportRow& EvalReport::add(const std::string& task, const std::string& metric, double model_value,
                           const std::string& baseline, double baseline_value, bool higher_is_better) {
  ReportRow r;
  r.task = task;
  r.metric = metric;
  r.higher_is_better = higher_is_better;
  r.model_value = model_value;
  r.baseline = baseline;
  r.baseline_value = baseline_value;
  r.model_beats_baseline = beats(model_value, baseline_value, higher_is_better);
  rows.push_back(r);
  return rows.back();
}

bool EvalReport::model_beats_all() const {
  if (rows.empty()) return false;
  for (const ReportRow& r : rows)
    if (!r.model_beats_baseline) return false;
  return true;
}

std::vector<ReportRow> EvalReport::failures() const {
  std::vector<ReportRow> out;
  for (const ReportRow& r : rows)
    if (!r.model_beats_baseline) out.push_back(r);
  return out;
}

nlohmann::json number_to_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double number_from_json(const nlohmann::json& j, const std::string& name) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(ErrorCode::BadInput, "eval report: field '" + name + "' must be a number or \"inf\", \"-inf\", \"nan\"");
}

nlohmann::json report_to_json(const EvalReport& report) {
  nlohmann::json rows = nlohmann::json::array();
  for (const ReportRow& r : report.rows) {
    rows.push_back({{"task", r.task},
                    {"metric", r.metric},
                    {"higher_is_better", r.higher_is_better},
                    {"model", number_to_json(r.model_value)},
                    {"baseline", r.baseline},
                    {"baseline_value", number_to_json(r.baseline_value)},
                    {"model_beats_baseline", r.model_beats_baseline}});
  }
  return {{"schema", kSchema},
          {"model", report.model},
          {"info", report.info},
          {"rows", rows},
          {"model_beats_all_baselines", report.model_beats_all()}};
}

EvalReport report_from_json(const nlohmann::json& j) {
  const nlohmann::json& schema = field(j, "schema", "report");
  require(schema.is_number_integer() && schema.get<int>() == kSchema,
          "unsupported schema " + schema.dump() + " (this build reads schema " + std::to_string(kSchema) + ")");
  EvalReport r;
  r.model = string_field(j, "model", "report");
  if (j.contains("info")) {
    require(j["info"].is_object(), "report: field 'info' must be an object");
    r.info = j["info"];
  }
  const nlohmann::json& rows = field(j, "rows", "report");
  require(rows.is_array(), "report: field 'rows' must be an array");
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string where = "rows[" + std::to_string(i) + "]";
    ReportRow row;
    row.task = string_field(rows[i], "task", where);
    row.metric = string_field(rows[i], "metric", where);
    row.higher_is_better = bool_field(rows[i], "higher_is_better", where);
    row.model_value = number_from_json(field(rows[i], "model", where), where + ".model");
    row.baseline = string_field(rows[i], "baseline", where);
    row.baseline_value = number_from_json(field(rows[i], "baseline_value", where), where + ".baseline_value");
    row.model_beats_baseline = bool_field(rows[i], "model_beats_baseline", where);
    r.rows.push_back(row);
  }
  return r;
}

std::string report_to_json_string(const EvalReport& report, int indent) { return report_to_json(report).dump(indent); }

EvalReport report_from_json_string(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadFile, std::string("eval report: not JSON: ") + e.what());
  }
  return report_from_json(j);
}

}  // namespace mf::eval

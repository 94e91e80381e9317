// The per-task evaluation report: one row per (task, metric, baseline) with the model's value, the
// baseline's value and whether the model beats it; JSON for the model card and regression tests.
//
// JSON (schema 1):
//   {"schema": 1, "model": "...", "info": {...},
//    "rows": [{"task": "vinp", "metric": "psnr_db", "higher_is_better": true, "model": 31.2,
//              "baseline": "telea_inpaint", "baseline_value": 27.9, "model_beats_baseline": true}, ...],
//    "model_beats_all_baselines": true}
// Non-finite values (PSNR of identical frames is +inf) are written as the strings "inf", "-inf", "nan" and
// read back as such. Suggested task names are the MfM task ids (vinp, voutp, vcolor, vsr, itrans, vexd, t2v,
// and the image variants) and metric names "psnr_db", "ssim" (luma), "ssim_rgb" (colorization), "caption_accuracy".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mf::eval {

struct ReportRow {
  std::string task;
  std::string metric;
  bool higher_is_better = true;
  double model_value = 0.0;
  std::string baseline;
  double baseline_value = 0.0;
  bool model_beats_baseline = false;  // strictly better (ties and NaN do not beat)
};

// Strictly better in the metric's direction; false when either value is NaN.
bool beats(double model_value, double baseline_value, bool higher_is_better);

struct EvalReport {
  std::string model;    // the evaluated model (name, checkpoint fingerprint, ...)
  nlohmann::json info = nlohmann::json::object();  // free-form: clip counts, seeds, sizes, timings
  std::vector<ReportRow> rows;

  // Appends a row with model_beats_baseline computed by beats().
  ReportRow& add(const std::string& task, const std::string& metric, double model_value,
                 const std::string& baseline, double baseline_value, bool higher_is_better = true);
  // True when there is at least one row and the model beats the baseline in every row.
  bool model_beats_all() const;
  // Rows the model does not beat.
  std::vector<ReportRow> failures() const;
};

nlohmann::json report_to_json(const EvalReport& report);
// Throws mf::Error(BadInput) naming the missing or mistyped field (BadFile for text that is not JSON).
EvalReport report_from_json(const nlohmann::json& j);
std::string report_to_json_string(const EvalReport& report, int indent = 2);
EvalReport report_from_json_string(const std::string& text);

// A double as JSON (number, or "inf" / "-inf" / "nan") and back.
nlohmann::json number_to_json(double v);
double number_from_json(const nlohmann::json& j, const std::string& field);

}  // namespace mf::eval

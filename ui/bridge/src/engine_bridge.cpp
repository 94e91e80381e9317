#include "mf/ui/bridge/engine_bridge.h"

#include <torch/torch.h>

#include <QMetaObject>

#include "mf/core/error.h"
#include "mf/engine/engine.h"

namespace mf::ui {

namespace eng = mf::engine;

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// [T, h, w, 3] uint8 -> the middle frame as a QImage (deep copy).
QImage middle_frame(const torch::Tensor& frames) {
  if (!frames.defined() || frames.dim() != 4 || frames.size(3) != 3) return {};
  torch::Tensor f = frames[frames.size(0) / 2].to(torch::kCPU).to(torch::kUInt8).contiguous();
  const int h = static_cast<int>(f.size(0)), w = static_cast<int>(f.size(1));
  QImage img(f.data_ptr<uint8_t>(), w, h, w * 3, QImage::Format_RGB888);
  return img.copy();
}

// [T, h, w, 3] uint8 -> every frame (deep copies).
QList<QImage> all_frames(const torch::Tensor& frames) {
  QList<QImage> out;
  if (!frames.defined() || frames.dim() != 4 || frames.size(3) != 3) return out;
  const torch::Tensor f = frames.to(torch::kCPU).to(torch::kUInt8).contiguous();
  const int h = static_cast<int>(f.size(1)), w = static_cast<int>(f.size(2));
  for (int64_t t = 0; t < f.size(0); ++t) {
    torch::Tensor one = f[t].contiguous();
    out.push_back(QImage(one.data_ptr<uint8_t>(), w, h, w * 3, QImage::Format_RGB888).copy());
  }
  return out;
}

}  // namespace

JobRow EngineBridge::row_from(const eng::JobInfo& j) {
  JobRow r;
  r.id = qs(j.id);
  r.task = mf::tasks::to_string(j.spec.task);
  r.prompt = qs(j.spec.prompt);
  r.state = eng::to_string(j.state);
  r.step = j.completed_steps;
  r.total = j.total_steps;
  r.message = qs(j.error_message);
  if (j.error_code) r.error_code = mf::to_string(*j.error_code);
  for (const auto& o : j.outputs) r.outputs << qs(o);
  return r;
}

EngineBridge::EngineBridge(EngineBridgeOptions options, QObject* parent)
    : JobService(parent), options_(std::move(options)) {
  const bool cuda = torch::cuda::is_available();
  if (options_.device.empty()) options_.device = cuda ? "cuda:0" : "cpu";
  if (options_.dtype.empty()) options_.dtype = options_.device == "cpu" ? "fp32" : "bf16";
  eng::EngineOptions eo;
  eo.dir = options_.queue_dir.string();
  eo.device = options_.device;
  eo.dtype = options_.dtype;
  engine_ = std::make_unique<eng::Engine>(eo);
  for (const auto& j : engine_->snapshot().jobs) rows_[qs(j.id)] = row_from(j);
  engine_->set_event_sink([this](const eng::Event& e) {
    // Dispatcher thread: hand a copy to the UI thread. Queued to `this`: dropped if the bridge is gone.
    QMetaObject::invokeMethod(this, [this, e] { on_event(e); }, Qt::QueuedConnection);
  });
}

EngineBridge::~EngineBridge() {
  engine_->set_event_sink({});
  engine_->shutdown();  // the running job goes back to the queue with its latents
}

void EngineBridge::on_event(const eng::Event& e) {
  const QString id = qs(e.job);
  if (e.kind == eng::EventKind::EngineState) {
    Q_EMIT paused_changed(e.paused);
    return;
  }
  if (e.kind == eng::EventKind::Preview) {
    const QImage img = middle_frame(e.frames);
    if (!img.isNull()) Q_EMIT preview_ready(id, img, e.step, e.total);
    const QList<QImage> all = all_frames(e.frames);
    if (!all.isEmpty()) Q_EMIT preview_frames_ready(id, all, e.step, e.total);
    return;
  }
  JobRow row = rows_.value(id);
  if (auto j = engine_->job(e.job)) {
    const double sps = row.seconds_per_step, eta = row.eta_seconds;
    row = row_from(*j);
    row.seconds_per_step = sps;
    row.eta_seconds = eta;
  }
  row.id = id;
  if (e.kind == eng::EventKind::Progress) {
    row.step = e.step;
    row.total = e.total;
    row.seconds_per_step = e.seconds_per_step;
    row.eta_seconds = e.eta_seconds;
  } else if (e.kind == eng::EventKind::Finished) {
    row.state = "finished";
    row.outputs.clear();
    for (const auto& o : e.outputs) row.outputs << qs(o);
  } else if (e.kind == eng::EventKind::Failed) {
    row.state = e.code == mf::ErrorCode::Cancelled ? "cancelled" : "failed";
    row.message = qs(e.message);
    row.error_code = mf::to_string(e.code);
  } else if (e.kind == eng::EventKind::StateChanged) {
    row.state = eng::to_string(e.state);
  }
  rows_[id] = row;
  Q_EMIT job_changed(row);
  if (e.kind == eng::EventKind::Finished) Q_EMIT job_finished(row);
  if (e.kind == eng::EventKind::Failed) Q_EMIT job_failed(row);
}

QString EngineBridge::submit(const mf::tasks::TaskSpec& spec, const QString& output_path) {
  mf::tasks::TaskSpec s = spec;
  if (s.model.empty()) s.model = options_.model;
  check(!s.model.empty(), ErrorCode::MissingModel,
        "no model is configured: start the studio with --model DIR (an MfM pipeline folder) or set MF_MODEL");
  eng::JobOptions jo;
  jo.output = output_path.toStdString();
  const eng::JobId id = engine_->submit(s, jo);
  if (auto j = engine_->job(id)) {
    rows_[qs(id)] = row_from(*j);
    Q_EMIT job_changed(rows_[qs(id)]);
  }
  return qs(id);
}

bool EngineBridge::cancel(const QString& id) { return engine_->cancel(id.toStdString()); }

QString EngineBridge::retry_with_new_seed(const QString& id) {
  if (!engine_->job(id.toStdString())) return {};
  const eng::JobId nid = engine_->retry_with_new_seed(id.toStdString());
  if (auto j = engine_->job(nid)) {
    rows_[qs(nid)] = row_from(*j);
    Q_EMIT job_changed(rows_[qs(nid)]);
  }
  return qs(nid);
}

void EngineBridge::set_paused(bool paused) {
  if (paused) engine_->pause();
  else engine_->resume();
  Q_EMIT paused_changed(engine_->paused());
}

bool EngineBridge::paused() const { return engine_->paused(); }

QList<JobRow> EngineBridge::jobs() const {
  QList<JobRow> out;
  for (const auto& j : engine_->snapshot().jobs) out << (rows_.contains(qs(j.id)) ? rows_[qs(j.id)] : row_from(j));
  return out;
}

QString EngineBridge::model() const { return qs(options_.model); }

QString EngineBridge::memory_estimate(const mf::tasks::TaskSpec& spec_in) const {
  mf::tasks::TaskSpec spec = spec_in;
  if (spec.model.empty()) spec.model = options_.model;
  if (spec.model.empty()) return {};
  const QString key = QString("%1|%2|%3x%4|%5|%6")
                          .arg(qs(spec.model))
                          .arg(mf::tasks::task_facts(spec.task).image_output ? 1 : spec.num_frames)
                          .arg(spec.width)
                          .arg(spec.height)
                          .arg(spec.guidance_scale > 1.0 ? 2 : 1)
                          .arg(mf::tasks::to_string(spec.task));
  if (auto it = estimates_.constFind(key); it != estimates_.constEnd()) return *it;
  QString answer;
  try {
    const eng::MemoryPlan plan = engine_->plan(spec);
    if (!plan.fits) answer = "Does not fit: " + qs(plan.message);
    for (const auto& o : plan.options)
      if (plan.fits && o.residency == plan.chosen)
        answer = QString("Peak %1 of %2 on %3 (%4)")
                     .arg(qs(eng::format_bytes(o.device_peak_bytes)), qs(eng::format_bytes(engine_->device_budget_bytes())),
                          qs(options_.device), QString(eng::to_string(plan.chosen)).replace('_', ' '));
  } catch (const std::exception& e) {
    return "No estimate: " + QString::fromUtf8(e.what());  // not kept: the model folder may appear later
  }
  estimates_.insert(key, answer);
  return answer;
}

QString EngineBridge::device() const { return qs(options_.device + " (" + options_.dtype + ")"); }

}  // namespace mf::ui

// EngineBridge: the studio's JobService over mf::engine::Engine (the in-process worker). The only part of the
// studio that includes LibTorch. One bridge per open project: its queue lives in <project>/jobs/queue, so queued
// jobs survive a crash and resume when the project is opened again.
//
// Threading: construct, call and destroy on the UI thread. Engine events arrive on the engine's dispatcher thread
// and are re-posted to the UI thread (queued to this object), so every signal is emitted on the UI thread;
// events still in flight when the bridge is destroyed are dropped.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <QHash>

#include "mf/ui/job_service.h"

namespace mf::engine {
class Engine;
struct Event;
struct JobInfo;
}

namespace mf::ui {

struct EngineBridgeOptions {
  std::filesystem::path queue_dir;  // "" = in memory only
  std::string model;                // default model for jobs whose spec names none ("" = none configured)
  std::string device;               // "" = cuda:0 when LibTorch sees a GPU, else cpu
  std::string dtype;                // "" = bf16 on CUDA, fp32 on CPU
};

class EngineBridge : public JobService {
  Q_OBJECT
 public:
  // Throws mf::Error (Io when the queue folder cannot be written, Unsupported when another studio holds it).
  explicit EngineBridge(EngineBridgeOptions options, QObject* parent = nullptr);
  ~EngineBridge() override;

  QString submit(const mf::tasks::TaskSpec& spec, const QString& output_path) override;
  bool cancel(const QString& id) override;
  QString retry_with_new_seed(const QString& id) override;
  void set_paused(bool paused) override;
  bool paused() const override;
  QList<JobRow> jobs() const override;
  QString model() const override;
  QString device() const override;
  QString memory_estimate(const mf::tasks::TaskSpec& spec) const override;

  mf::engine::Engine& engine() { return *engine_; }

 private:
  void on_event(const mf::engine::Event& e);  // UI thread
  static JobRow row_from(const mf::engine::JobInfo& j);

  EngineBridgeOptions options_;
  std::unique_ptr<mf::engine::Engine> engine_;
  QHash<QString, JobRow> rows_;
  // memory_estimate() is asked on every inspector change; the plan depends only on these fields of the spec
  // (and reading the model's configs is file I/O), so answers are kept per (model, frames, size, CFG).
  mutable QHash<QString, QString> estimates_;
};

}  // namespace mf::ui

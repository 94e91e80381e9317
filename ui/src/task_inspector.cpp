#include "mf/ui/task_inspector.h"

#include <random>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QVBoxLayout>

#include "mf/project/session.h"
#include "mf/ui/job_service.h"

namespace mf::ui {

namespace proj = mf::project;
using mf::jobs::TaskForm;
using mf::tasks::TaskId;

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

struct SizePreset {
  const char* label;
  int height, width;  // 0 = from the input, -1 = custom
};
constexpr SizePreset kSizes[] = {
    {"From input", 0, 0},
    {"352 x 640 (MfM default, landscape)", 352, 640},
    {"480 x 848", 480, 848},
    {"720 x 1280 (HD)", 720, 1280},
    {"512 x 512", 512, 512},
    {"1024 x 1024", 1024, 1024},
    {"64 x 96 (built-in toy model)", 64, 96},
    {"Custom...", -1, -1},
};

QWidget* row_of(std::initializer_list<QWidget*> widgets) {
  auto* w = new QWidget;
  auto* l = new QHBoxLayout(w);
  l->setContentsMargins(0, 0, 0, 0);
  for (QWidget* x : widgets) l->addWidget(x);
  return w;
}

}  // namespace

TaskInspector::TaskInspector(QWidget* parent) : QWidget(parent) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(8, 8, 8, 8);
  auto* form = form_ = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->setLabelAlignment(Qt::AlignRight);

  task_ = new QComboBox;
  task_->setObjectName("task_box");
  const struct {
    const char* group;
    std::vector<TaskId> tasks;
  } groups[] = {
      {"Generate", {TaskId::T2V, TaskId::T2I, TaskId::I2V, TaskId::ITrans, TaskId::VExd, TaskId::VTrans}},
      {"Edit video", {TaskId::VInp, TaskId::VOutp, TaskId::VColor, TaskId::VSR, TaskId::VEdit}},
      {"Edit image", {TaskId::IInp, TaskId::IOutp, TaskId::IColor, TaskId::ISR}},
  };
  for (const auto& g : groups)
    for (TaskId t : g.tasks) {
      const auto& f = mf::tasks::task_facts(t);
      task_->addItem(QString("%1 — %2").arg(g.group, f.task_name), static_cast<int>(t));
      task_->setItemData(task_->count() - 1, QString("%1 (%2)").arg(f.task_name, f.key), Qt::ToolTipRole);
    }
  form->addRow("Task", task_);
  hint_ = new QLabel;
  hint_->setWordWrap(true);
  hint_->setStyleSheet("color: #9aa0aa;");
  form->addRow("", hint_);
  inputs_label_ = new QLabel;
  inputs_label_->setObjectName("inputs_label");
  inputs_label_->setWordWrap(true);
  inputs_label_->setTextFormat(Qt::RichText);
  form->addRow("Inputs", inputs_label_);

  prompt_ = new QPlainTextEdit;
  prompt_->setObjectName("prompt_edit");
  prompt_->setPlaceholderText("Describe the result, e.g. a red circle moves left over a blue striped background");
  prompt_->setFixedHeight(64);
  prompt_->setTabChangesFocus(true);
  form->addRow("Prompt", prompt_);
  style_ = new QComboBox;
  style_->setObjectName("style_box");
  form->addRow("Style", style_);
  negative_ = new QLineEdit;
  negative_->setObjectName("negative_edit");
  negative_->setClearButtonEnabled(true);
  form->addRow("Negative", negative_);

  duration_ = new QDoubleSpinBox;
  duration_->setObjectName("duration_box");
  duration_->setRange(0.05, 30.0);
  duration_->setDecimals(2);
  duration_->setSingleStep(0.25);
  duration_->setSuffix(" s");
  duration_->setValue(3.0);
  max_frames_ = new QSpinBox;
  max_frames_->setObjectName("max_frames_box");
  max_frames_->setRange(1, 257);
  max_frames_->setSingleStep(4);
  max_frames_->setValue(49);
  max_frames_->setPrefix("up to ");
  max_frames_->setSuffix(" frames");
  max_frames_->setToolTip("Frames of the clip used (rounded down to 4k+1)");
  frames_label_ = new QLabel;
  frames_label_->setObjectName("frames_label");
  duration_row_ = row_of({duration_, max_frames_, frames_label_});
  qobject_cast<QHBoxLayout*>(duration_row_->layout())->addStretch(1);
  form->addRow("Length", duration_row_);

  size_ = new QComboBox;
  size_->setObjectName("size_box");
  for (const auto& s : kSizes) size_->addItem(s.label, QSize(s.width, s.height));
  width_ = new QSpinBox;
  height_ = new QSpinBox;
  for (QSpinBox* b : {width_, height_}) {
    b->setRange(16, 4096);
    b->setSingleStep(16);
    b->setKeyboardTracking(false);
  }
  width_->setValue(640);
  height_->setValue(352);
  width_->setPrefix("W ");
  height_->setPrefix("H ");
  custom_size_ = row_of({width_, height_});
  form->addRow("Size", size_);
  form->addRow("", custom_size_);
  upscale_ = new QSpinBox;
  upscale_->setRange(1, 8);
  upscale_->setValue(4);
  upscale_->setSuffix(" x");
  upscale_row_ = upscale_;
  form->addRow("Upscale", upscale_);

  steps_ = new QSpinBox;
  steps_->setObjectName("steps_box");
  steps_->setRange(1, 200);
  form->addRow("Steps", steps_);
  guidance_ = new QDoubleSpinBox;
  guidance_->setObjectName("guidance_box");
  guidance_->setRange(0.0, 30.0);
  guidance_->setSingleStep(0.5);
  guidance_->setDecimals(2);
  form->addRow("Guidance", guidance_);
  motion_ = new QDoubleSpinBox;
  motion_->setRange(0.0, 50.0);
  motion_->setSingleStep(0.5);
  motion_->setToolTip("How much motion the model is asked for (the official default is 5)");
  motion_row_ = motion_;
  form->addRow("Motion", motion_);
  keep_known_ = new QCheckBox("Keep the picture outside the mask");
  keep_known_->setObjectName("keep_known_pixels");
  keep_known_->setToolTip("The result keeps your footage where the mask keeps it, blended into the generated region "
                          "over a few pixels (as an inpainting tool pastes its result back). Off: the model's whole "
                          "frame, as the official pipeline returns it.");
  form->addRow("", keep_known_);
  seed_ = new QSpinBox;
  seed_->setObjectName("seed_box");
  seed_->setRange(0, 2147483647);
  seed_lock_ = new QCheckBox("Lock");
  seed_lock_->setObjectName("seed_lock");
  seed_lock_->setToolTip("Locked: every job uses this seed. Unlocked: each job draws a new one (shown here).");
  randomise_ = new QPushButton("Randomise");
  randomise_->setToolTip("Draw a new seed now");
  form->addRow("Seed", row_of({seed_, seed_lock_, randomise_}));
  outer->addLayout(form);

  messages_ = new QLabel;
  messages_->setObjectName("messages_label");
  messages_->setWordWrap(true);
  messages_->setTextFormat(Qt::RichText);
  outer->addWidget(messages_);
  memory_ = new QLabel;
  memory_->setObjectName("memory_label");
  memory_->setWordWrap(true);
  memory_->setStyleSheet("color: #9aa0aa;");
  outer->addWidget(memory_);
  submit_ = new QPushButton("Queue job  (Ctrl+Return)");
  submit_->setObjectName("submit_button");
  submit_->setDefault(true);
  outer->addWidget(submit_);
  outer->addStretch(1);

  auto* shortcut = new QShortcut(QKeySequence("Ctrl+Return"), this);
  shortcut->setContext(Qt::WidgetWithChildrenShortcut);
  connect(shortcut, &QShortcut::activated, this, [this] {
    if (can_submit()) Q_EMIT submit_requested();
  });
  connect(submit_, &QPushButton::clicked, this, [this] {
    if (can_submit()) Q_EMIT submit_requested();
  });
  connect(task_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) { task_changed(); });
  connect(style_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) {
    if (updating_) return;
    // A preset's suggested settings fill the fields (the user can still change them).
    if (const mf::tasks::StylePreset* p = current_style()) {
      updating_ = true;
      if (p->steps) steps_->setValue(*p->steps);
      if (p->guidance_scale) guidance_->setValue(*p->guidance_scale);
      if (p->motion_score) motion_->setValue(*p->motion_score);
      updating_ = false;
    }
    update_state();
  });
  connect(size_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) { update_state(); });
  connect(duration_, &QDoubleSpinBox::editingFinished, this, [this] { snap_duration(); });
  connect(duration_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, [this](double) { update_state(); });
  connect(max_frames_, &QSpinBox::editingFinished, this, [this] {
    const int v = max_frames_->value();
    if ((v - 1) % 4 != 0) max_frames_->setValue((v - 1) / 4 * 4 + 1);
  });
  for (QSpinBox* b : {width_, height_}) {
    connect(b, &QSpinBox::editingFinished, this, [this] { snap_custom_size(); });
    connect(b, qOverload<int>(&QSpinBox::valueChanged), this, [this](int) { update_state(); });
  }
  for (QSpinBox* b : {max_frames_, upscale_, steps_, seed_})
    connect(b, qOverload<int>(&QSpinBox::valueChanged), this, [this](int) { update_state(); });
  for (QDoubleSpinBox* b : {guidance_, motion_})
    connect(b, qOverload<double>(&QDoubleSpinBox::valueChanged), this, [this](double) { update_state(); });
  connect(prompt_, &QPlainTextEdit::textChanged, this, [this] { update_state(); });
  connect(negative_, &QLineEdit::textChanged, this, [this](const QString&) { update_state(); });
  connect(randomise_, &QPushButton::clicked, this, [this] {
    std::random_device rd;
    seed_->setValue(static_cast<int>(rd() % 2147483647u));
  });

  {
    std::random_device rd;
    seed_->setValue(static_cast<int>(rd() % 2147483647u));
  }
  task_changed();
}

void TaskInspector::set_context(const proj::ProjectSession* session, JobService* service, SelectionSource selection) {
  session_ = session;
  service_ = service;
  selection_ = std::move(selection);
  refresh();
}

void TaskInspector::set_preset_folders(std::vector<std::filesystem::path> folders) {
  preset_folders_ = std::move(folders);
  const mf::tasks::StylePresetList list = mf::tasks::load_style_presets(preset_folders_);
  presets_ = list.presets;
  preset_problems_.clear();
  for (const auto& p : list.problems) preset_problems_ << qs(p);
  rebuild_styles();
  update_state();
}

void TaskInspector::refresh() {
  inputs_ = {};
  if (session_ && selection_) inputs_ = proj::gather_task_inputs(session_->document(), selection_());
  update_state();
}

void TaskInspector::set_task(TaskId task) {
  const int i = task_->findData(static_cast<int>(task));
  if (i >= 0) task_->setCurrentIndex(i);
}

TaskId TaskInspector::task() const { return static_cast<TaskId>(task_->currentData().toInt()); }

const mf::tasks::StylePreset* TaskInspector::current_style() const {
  const QString id = style_->currentData().toString();
  if (id.isEmpty()) return nullptr;
  for (const auto& p : presets_)
    if (qs(p.id) == id) return &p;
  return nullptr;
}

void TaskInspector::rebuild_styles() {
  const QString keep = style_->currentData().toString();
  updating_ = true;
  style_->clear();
  style_->addItem("None", QString());
  for (const auto& p : presets_) {
    if (!p.offered_for(task())) continue;
    style_->addItem(qs(p.name), qs(p.id));
    QString tip = qs(p.description);
    if (p.lora) tip += QString("\nLoRA: %1 (strength %2)").arg(qs(p.lora->path)).arg(p.lora->scale);
    style_->setItemData(style_->count() - 1, tip, Qt::ToolTipRole);
  }
  const int i = style_->findData(keep);
  style_->setCurrentIndex(i >= 0 ? i : 0);
  updating_ = false;
}

void TaskInspector::task_changed() {
  const TaskId t = task();
  const TaskForm form = mf::jobs::task_form(t);
  const mf::tasks::TaskSpec defaults = mf::tasks::official_defaults(t);
  updating_ = true;
  hint_->setText(qs(form.hint));
  steps_->setValue(defaults.steps);
  guidance_->setValue(defaults.guidance_scale);
  motion_->setValue(defaults.motion_score);
  negative_->setPlaceholderText("default: " + qs(defaults.effective_negative_prompt()).left(80) + "...");
  negative_->setToolTip(qs(defaults.effective_negative_prompt()));
  duration_->setVisible(form.frames == TaskForm::Frames::Choose);
  if (form.default_frames > 0 && inputs_.fps.num() > 0 && inputs_.fps.den() > 0)  // generation: the official 97
    duration_->setValue(mf::tasks::duration_seconds(
        form.default_frames, mf::tasks::Rational{inputs_.fps.num(), inputs_.fps.den()}));
  max_frames_->setVisible(form.frames == TaskForm::Frames::FromClip);
  upscale_->setValue(defaults.upscale);
  form_->setRowVisible(upscale_row_, form.upscale);
  form_->setRowVisible(motion_row_, form.motion);
  form_->setRowVisible(keep_known_, form.mask == mf::tasks::MaskUse::Required);
  // "From input" only for tasks with an input; generation from text starts at the official box.
  const bool from_input = form.size == TaskForm::Size::FromInput;
  if (from_input) size_->setCurrentIndex(0);
  else if (size_->currentIndex() == 0) {
    const int i = size_->findData(QSize(defaults.width, defaults.height));
    size_->setCurrentIndex(i >= 0 ? i : 1);
  }
  updating_ = false;
  rebuild_styles();
  update_state();
}

void TaskInspector::snap_duration() {
  if (!session_) return;
  const auto& fps = inputs_.fps;
  const mf::tasks::Rational r{fps.num(), fps.den()};
  const int n = mf::tasks::frames_for_duration(duration_->value(), r);
  const double snapped = mf::tasks::duration_seconds(n, r);
  if (std::abs(snapped - duration_->value()) > 1e-9) duration_->setValue(snapped);
}

void TaskInspector::snap_custom_size() {
  for (QSpinBox* b : {width_, height_}) {
    const int v = mf::tasks::snap_to_16(b->value());
    if (v != b->value()) b->setValue(v);
  }
}

mf::jobs::TaskJobRequest TaskInspector::request() const {
  mf::jobs::TaskJobRequest q;
  q.task = task();
  q.prompt = prompt_->toPlainText().trimmed().toStdString();
  if (!negative_->text().trimmed().isEmpty()) q.negative_prompt = negative_->text().trimmed().toStdString();
  const TaskForm form = mf::jobs::task_form(q.task);
  const mf::tasks::Rational fps{inputs_.fps.num(), inputs_.fps.den()};
  if (form.frames == TaskForm::Frames::Choose) q.num_frames = mf::tasks::frames_for_duration(duration_->value(), fps);
  q.max_frames = max_frames_->value();
  q.keep_known_pixels = keep_known_->isChecked();
  const QSize box = size_->currentData().toSize();
  if (box.width() < 0) {
    q.width = mf::tasks::snap_to_16(width_->value());
    q.height = mf::tasks::snap_to_16(height_->value());
  } else if (box.width() > 0) {
    q.width = box.width();
    q.height = box.height();
  }
  q.steps = steps_->value();
  q.guidance = guidance_->value();
  if (form.motion) q.motion_score = motion_->value();
  if (form.upscale) q.upscale = upscale_->value();
  q.seed = static_cast<uint64_t>(seed_->value());
  if (const mf::tasks::StylePreset* p = current_style()) q.style = *p;
  return q;
}

mf::tasks::TaskSpec TaskInspector::preview_spec() const {
  if (!session_) return mf::tasks::official_defaults(task());
  return mf::jobs::preview_task_spec(session_->document(), inputs_, resolved_, request());
}

QString TaskInspector::memory_text() const { return memory_->text(); }

mf::jobs::TaskJobRequest TaskInspector::take_seed_for_submit() {
  if (!seed_lock_->isChecked()) {
    std::random_device rd;
    seed_->setValue(static_cast<int>(rd() % 2147483647u));
  }
  return request();
}

void TaskInspector::update_state() {
  if (updating_) return;
  const TaskId t = task();
  const TaskForm form = mf::jobs::task_form(t);
  resolved_ = mf::jobs::resolve_task_inputs(t, inputs_);
  custom_size_->setVisible(size_->currentData().toSize().width() < 0);

  // Inputs, one line each.
  QStringList lines;
  auto ok = [](const QString& s) { return "<span style='color:#7ccf7c'>&#10003;</span> " + s.toHtmlEscaped(); };
  auto bad = [](const QString& s) { return "<span style='color:#ff7070'>&#10007; " + s.toHtmlEscaped() + "</span>"; };
  const proj::Project* doc = session_ ? &session_->document() : nullptr;
  auto clip_name = [&](const std::string& id) {
    const proj::Clip* c = doc ? doc->find_clip(id) : nullptr;
    return c ? qs(c->name) : QString("still");
  };
  for (const auto& img : resolved_.images)
    lines << ok(QString("%1, frame %2").arg(img.clip_id.empty() ? qs(std::filesystem::path(img.media_path).filename().string())
                                                                : clip_name(img.clip_id))
                    .arg(img.timeline_frame));
  for (const auto& c : resolved_.clips)
    lines << ok(QString("%1, frames %2-%3 (%4 frames)").arg(clip_name(c.clip_id)).arg(c.timeline.start)
                    .arg(c.timeline.end - 1).arg(c.frame_count()));
  if (resolved_.mask) {
    int painted = 0;
    for (const auto& f : resolved_.mask->frames) painted += f.sample.kind == proj::MaskSampleKind::Painted;
    lines << ok(QString("mask track, %1 painted frame(s), %2").arg(painted)
                    .arg(proj::to_string(resolved_.mask->interpolation)));
  }
  if (resolved_.image_mask) lines << ok(QString("mask (%1)").arg(proj::to_string(resolved_.image_mask->kind)));
  for (const auto& m : resolved_.missing) lines << bad(qs(m));
  for (const auto& n : resolved_.notes) lines << "<span style='color:#9aa0aa'>" + qs(n).toHtmlEscaped() + "</span>";
  if (form.inputs.empty() && !form.upscale) lines << "<span style='color:#9aa0aa'>none: the prompt alone</span>";
  inputs_label_->setText(lines.join("<br>"));

  // Length.
  const mf::tasks::Rational fps{inputs_.fps.num(), inputs_.fps.den()};
  switch (form.frames) {
    case TaskForm::Frames::Single: frames_label_->setText("1 image"); break;
    case TaskForm::Frames::Choose: {
      const int n = mf::tasks::frames_for_duration(duration_->value(), fps);
      frames_label_->setText(QString("= %1 frames at %2 fps").arg(n).arg(fps.value(), 0, 'g', 5));
      break;
    }
    case TaskForm::Frames::FromClip: {
      int n = 0;
      if (!resolved_.clips.empty()) {
        const int64_t avail = std::min<int64_t>(resolved_.clips[0].frame_count(), max_frames_->value());
        n = avail < 1 ? 0 : static_cast<int>((avail - 1) / 4 * 4 + 1);
      }
      frames_label_->setText(n > 0 ? QString("uses %1 frames").arg(n) : QString());
      break;
    }
  }

  // Validation: what is missing, then the TaskSpec's own errors and warnings.
  errors_.clear();
  warnings_.clear();
  for (const auto& m : resolved_.missing) errors_ << qs(m);
  if (!session_) errors_ << "create or open a project first";
  const mf::tasks::TaskSpec spec = preview_spec();
  for (const auto& issue : mf::tasks::validate(spec)) {
    if (issue.field == "images" || issue.field == "clips" || issue.field == "mask") {
      if (!resolved_.missing.empty()) continue;  // already said, in the user's terms
    }
    const QString line = qs(issue.field + ": " + issue.message);
    if (issue.severity == mf::tasks::ValidationIssue::Severity::Error) errors_ << line;
    else warnings_ << line;
  }
  for (const auto& p : preset_problems_) warnings_ << p;
  QStringList html;
  for (const auto& e : errors_) html << "<span style='color:#ff7070'>" + e.toHtmlEscaped() + "</span>";
  for (const auto& w : warnings_) html << "<span style='color:#e0b050'>" + w.toHtmlEscaped() + "</span>";
  messages_->setText(html.join("<br>"));
  messages_->setVisible(!html.isEmpty());

  // Memory estimate (only for a spec that would be accepted).
  QString mem;
  if (errors_.isEmpty() && service_) mem = service_->memory_estimate(spec);
  memory_->setText(mem.isEmpty() ? QString() : "Memory: " + mem);
  memory_->setVisible(!mem.isEmpty());
  submit_->setEnabled(can_submit());
  submit_->setToolTip(can_submit() ? QString("Export the inputs and queue the job") : errors_.join("\n"));
}

}  // namespace mf::ui

#include "mf/ui/generate_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace mf::ui {

using mf::tasks::TaskId;

GenerateDialog::GenerateDialog(QWidget* parent) : QDialog(parent) {
  setWindowTitle("Generate from clip");
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  clip_ = new QLabel;
  form->addRow("Clip:", clip_);
  task_ = new QComboBox;
  for (TaskId t : {TaskId::VInp, TaskId::VOutp, TaskId::VColor, TaskId::VSR, TaskId::VEdit, TaskId::VExd}) {
    const auto& f = mf::tasks::task_facts(t);
    task_->addItem(QString("%1 — %2").arg(f.key, f.task_name), static_cast<int>(t));
  }
  form->addRow("Task:", task_);
  prompt_ = new QLineEdit;
  prompt_->setPlaceholderText("describe the result, e.g. a red circle moves left over a blue background");
  form->addRow("Prompt:", prompt_);
  steps_ = new QSpinBox;
  steps_->setRange(1, 200);
  form->addRow("Steps:", steps_);
  frames_ = new QSpinBox;
  frames_->setRange(1, 197);
  frames_->setSingleStep(4);
  frames_->setValue(49);
  frames_->setToolTip("At most this many frames of the clip are used (rounded down to 4k+1)");
  form->addRow("Max frames:", frames_);
  seed_ = new QSpinBox;
  seed_->setRange(0, 2147483647);
  seed_->setSpecialValueText("random");
  form->addRow("Seed:", seed_);
  layout->addLayout(form);
  hint_ = new QLabel;
  hint_->setWordWrap(true);
  layout->addWidget(hint_);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons->button(QDialogButtonBox::Ok)->setText("Queue");
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons);
  connect(task_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) { task_changed(); });
  task_changed();
  set_clip_name({});
}

void GenerateDialog::set_clip_name(const QString& name) {
  has_clip_ = !name.isEmpty();
  clip_->setText(has_clip_ ? name : "<i>none selected: click a clip on the timeline first</i>");
  if (auto* box = findChild<QDialogButtonBox*>()) box->button(QDialogButtonBox::Ok)->setEnabled(has_clip_);
}

void GenerateDialog::set_task(TaskId task) {
  const int i = task_->findData(static_cast<int>(task));
  if (i >= 0) task_->setCurrentIndex(i);
}

void GenerateDialog::task_changed() {
  const auto t = static_cast<TaskId>(task_->currentData().toInt());
  steps_->setValue(mf::tasks::official_defaults(t).steps);
  const auto& f = mf::tasks::task_facts(t);
  hint_->setText(f.mask == mf::tasks::MaskUse::Required
                     ? "Uses the clip's painted mask: black (brush) regenerates, white (eraser) keeps."
                     : "The whole clip is the condition; a painted mask is used if there is one.");
}

mf::jobs::ClipJobRequest GenerateDialog::request() const {
  mf::jobs::ClipJobRequest r;
  r.task = static_cast<TaskId>(task_->currentData().toInt());
  r.prompt = prompt_->text().toStdString();
  r.steps = steps_->value();
  r.max_frames = frames_->value();
  if (seed_->value() > 0) r.seed = static_cast<uint64_t>(seed_->value());
  return r;
}

}  // namespace mf::ui

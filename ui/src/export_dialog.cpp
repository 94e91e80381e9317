#include "mf/ui/export_dialog.h"

#include <ctime>

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace mf::ui {

using mf::media::Codec;

ExportDialog::ExportDialog(bool has_in_out, const QString& selected_clip_name, int project_width, int project_height,
                           const std::filesystem::path& default_folder, QWidget* parent)
    : QDialog(parent) {
  setWindowTitle("Export");
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  source_ = new QComboBox;
  if (has_in_out) source_->addItem("Timeline, in to out", static_cast<int>(Source::InOut));
  source_->addItem("Whole timeline", static_cast<int>(Source::Timeline));
  if (!selected_clip_name.isEmpty())
    source_->addItem("Selected clip/take: " + selected_clip_name, static_cast<int>(Source::Clip));
  form->addRow("Render", source_);
  codec_ = new QComboBox;
  const struct {
    Codec codec;
    const char* label;
  } codecs[] = {{Codec::H264, "H.264 (MP4)"},        {Codec::H265, "H.265 / HEVC (MP4)"},
                {Codec::Vp9, "VP9 (WebM)"},          {Codec::Av1, "AV1 (MP4)"},
                {Codec::ProRes422, "ProRes 422 HQ (MOV)"}, {Codec::ProRes4444, "ProRes 4444 (MOV)"},
                {Codec::Ffv1, "FFV1 lossless (MKV)"}, {Codec::Mjpeg, "Motion JPEG (AVI)"},
                {Codec::Gif, "GIF"}};
  for (const auto& c : codecs)
    if (mf::media::encoder_available(c.codec)) codec_->addItem(c.label, static_cast<int>(c.codec));
  form->addRow("Codec", codec_);
  crf_ = new QSpinBox;
  crf_->setRange(-1, 63);
  crf_->setValue(-1);
  crf_->setSpecialValueText("high quality (codec default)");
  crf_->setToolTip("Constant rate factor: lower is better quality and a larger file (H.264: 18 is visually lossless)");
  form->addRow("Quality (CRF)", crf_);
  width_ = new QSpinBox;
  height_ = new QSpinBox;
  for (QSpinBox* b : {width_, height_}) {
    b->setRange(2, 8192);
    b->setSingleStep(2);
  }
  width_->setValue(project_width > 1 ? project_width : 1280);
  height_->setValue(project_height > 1 ? project_height : 720);
  auto* size = new QWidget;
  auto* sl = new QHBoxLayout(size);
  sl->setContentsMargins(0, 0, 0, 0);
  sl->addWidget(width_);
  sl->addWidget(height_);
  size->setToolTip("Timeline renders are fitted into this size (the project resolution by default)");
  form->addRow("Size (W x H)", size);
  file_ = new QLineEdit;
  char stamp[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  file_->setText(QString::fromStdString((default_folder / (std::string("export_") + stamp + ".mp4")).string()));
  auto* browse = new QPushButton("Browse...");
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, "Export to", file_->text());
    if (!f.isEmpty()) file_->setText(f);
  });
  auto* file_row = new QWidget;
  auto* fl = new QHBoxLayout(file_row);
  fl->setContentsMargins(0, 0, 0, 0);
  fl->addWidget(file_, 1);
  fl->addWidget(browse);
  form->addRow("File", file_row);
  layout->addLayout(form);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons->button(QDialogButtonBox::Ok)->setText("Export");
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons);
  connect(codec_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) { codec_changed(); });
  connect(source_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, size](int) {
    size->setEnabled(source() != Source::Clip);
  });
}

void ExportDialog::codec_changed() {
  // Keep the file name, switch its extension to the codec's container.
  const auto codec = static_cast<Codec>(codec_->currentData().toInt());
  QFileInfo fi(file_->text());
  const QString ext = QString::fromStdString(mf::jobs::default_extension(codec));
  file_->setText(fi.path() + "/" + fi.completeBaseName() + ext);
}

ExportDialog::Source ExportDialog::source() const { return static_cast<Source>(source_->currentData().toInt()); }

void ExportDialog::set_source(Source s) {
  const int i = source_->findData(static_cast<int>(s));
  if (i >= 0) source_->setCurrentIndex(i);
}

void ExportDialog::set_codec(Codec c) {
  const int i = codec_->findData(static_cast<int>(c));
  if (i >= 0) codec_->setCurrentIndex(i);
}

void ExportDialog::set_file(const QString& path) { file_->setText(path); }

mf::jobs::RenderOptions ExportDialog::options() const {
  mf::jobs::RenderOptions o;
  o.codec = static_cast<Codec>(codec_->currentData().toInt());
  o.crf = crf_->value();
  if (source() != Source::Clip) {
    o.width = width_->value();
    o.height = height_->value();
  }
  return o;
}

std::filesystem::path ExportDialog::file() const { return file_->text().trimmed().toStdString(); }

}  // namespace mf::ui

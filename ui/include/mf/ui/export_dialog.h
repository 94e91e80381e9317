// The Export dialog: what to render (the in/out range, the whole timeline, or the selected clip/take), the codec
// (only those this FFmpeg can encode), quality (CRF, or the codec's high-quality default), the output size for
// timeline renders and the file. MainWindow::export_render does the work with a progress dialog.
//
// Threading: UI thread only.
#pragma once

#include <filesystem>

#include <QDialog>

#include "mf/jobs/render.h"

class QComboBox;
class QLineEdit;
class QSpinBox;

namespace mf::ui {

class ExportDialog : public QDialog {
  Q_OBJECT
 public:
  // `has_in_out` / `selected_clip` decide which sources are offered; `default_folder` is where the file goes.
  ExportDialog(bool has_in_out, const QString& selected_clip_name, int project_width, int project_height,
               const std::filesystem::path& default_folder, QWidget* parent = nullptr);

  enum class Source { InOut, Timeline, Clip };
  Source source() const;
  void set_source(Source s);
  void set_codec(mf::media::Codec c);
  void set_file(const QString& path);
  // The render options (clip_id left empty: the caller fills it in for Source::Clip) and the file.
  mf::jobs::RenderOptions options() const;
  std::filesystem::path file() const;

 private:
  void codec_changed();
  QComboBox* source_ = nullptr;
  QComboBox* codec_ = nullptr;
  QSpinBox* crf_ = nullptr;
  QSpinBox* width_ = nullptr;
  QSpinBox* height_ = nullptr;
  QLineEdit* file_ = nullptr;
};

}  // namespace mf::ui

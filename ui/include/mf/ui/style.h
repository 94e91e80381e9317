// The studio's look: Fusion style with a dark palette (applied once to the QApplication).
#pragma once

class QApplication;

namespace mf::ui {

void apply_dark_style(QApplication& app);

}  // namespace mf::ui

#include "mf/ui/style.h"

#include <QApplication>
#include <QPalette>
#include <QStyleFactory>

namespace mf::ui {

void apply_dark_style(QApplication& app) {
  app.setStyle(QStyleFactory::create("Fusion"));
  QPalette p;
  const QColor window(37, 37, 40), base(27, 27, 30), text(220, 220, 224), accent(64, 128, 220);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, window);
  p.setColor(QPalette::ToolTipBase, base);
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, QColor(48, 48, 52));
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, Qt::red);
  p.setColor(QPalette::Link, accent);
  p.setColor(QPalette::Highlight, accent);
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Disabled, QPalette::Text, QColor(110, 110, 115));
  p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(110, 110, 115));
  p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(110, 110, 115));
  app.setPalette(p);
}

}  // namespace mf::ui

// ChannelPanel: per channel of the slide (any number: the list scrolls),
// visible, colour, contrast window (numbers and handles on a log-count
// histogram of the visible region), gamma, auto-contrast and reset. Every
// control is an edit of the model's ViewState; the panel redraws from the
// state when it changes.
//
// Thread-safety: widgets of the UI thread.
#pragma once

#include <QWidget>
#include <vector>

#include "vslide/app/viewer_model.h"

class QCheckBox;
class QPushButton;
class QSpinBox;
class QDoubleSpinBox;
class QLabel;
class QVBoxLayout;

namespace vslide::app {

// The selected channel's histogram (log counts) with the window's low and
// high as handles to drag.
class HistogramWidget : public QWidget {
  Q_OBJECT
 public:
  explicit HistogramWidget(ViewerModel* model, QWidget* parent = nullptr);
  void set_channel(int channel);
  int channel() const { return channel_; }
  // Screen x of an intensity, and back (tests drag the handles with these).
  double x_of(double value) const;
  double value_of(double x) const;
  double range_max() const { return max_; }

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void mouseReleaseEvent(QMouseEvent* e) override;

 private:
  void recompute();
  ViewerModel* model_;
  int channel_ = 0;
  std::vector<double> bins_ = std::vector<double>(256, 0.0);  // log10(1 + count), 256 bins over [0, max_]
  double max_ = 4096;
  int dragging_ = 0;  // 1 low, 2 high
};

class ChannelPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ChannelPanel(ViewerModel* model, QWidget* parent = nullptr);
  HistogramWidget* histogram() const { return histogram_; }
  int selected() const { return histogram_->channel(); }
  void select(int channel);

  struct Row {
    int channel = 0;
    QCheckBox* visible = nullptr;
    QPushButton* color = nullptr;
    QSpinBox* low = nullptr;
    QSpinBox* high = nullptr;
    QDoubleSpinBox* gamma = nullptr;
    QPushButton* autob = nullptr;
    QPushButton* reset = nullptr;
    QPushButton* select = nullptr;
  };
  const std::vector<Row>& rows() const { return rows_; }

 private:
  void rebuild();
  void sync();
  ViewerModel* model_;
  QVBoxLayout* list_ = nullptr;
  QWidget* list_host_ = nullptr;
  HistogramWidget* histogram_ = nullptr;
  QLabel* hist_label_ = nullptr;
  std::vector<Row> rows_;
};

}  // namespace vslide::app

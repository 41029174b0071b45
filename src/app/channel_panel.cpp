#include "vslide/app/channel_panel.h"

#include <QCheckBox>
#include <QColorDialog>
#include <QDoubleSpinBox>
#include <QGridLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

namespace vslide::app {

using namespace vslide::view;

namespace {
const ChannelDisplay* find_channel(const ViewState& s, int channel) {
  const int i = s.display.position_of(channel);
  return i < 0 ? nullptr : &s.display.channels[size_t(i)];
}
QColor qcolor(const Rgb& c) { return QColor::fromRgbF(c.r, c.g, c.b); }
void set_button_color(QPushButton* b, const Rgb& c) {
  b->setStyleSheet(QString("background-color: %1; min-width: 18px;").arg(qcolor(c).name()));
}
}  // namespace

HistogramWidget::HistogramWidget(ViewerModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  setMinimumSize(220, 90);
  setToolTip("Histogram of the visible region (log counts). Drag the handles to set the window.");
  connect(model_, &ViewerModel::histogramsChanged, this, [this] { recompute(); });
  connect(model_, &ViewerModel::stateChanged, this, qOverload<>(&QWidget::update));
}

void HistogramWidget::set_channel(int channel) {
  channel_ = channel;
  recompute();
}

void HistogramWidget::recompute() {
  bins_.assign(256, 0);
  const auto& chans = model_->histogram_channels();
  const auto it = std::find(chans.begin(), chans.end(), channel_);
  const ChannelDisplay* cd = find_channel(model_->state(), channel_);
  double top = cd ? cd->high * 1.25 : 4096;
  if (it != chans.end()) {
    const auto& counts = model_->histograms()[size_t(it - chans.begin())].counts();
    int last = 0;
    for (int v = 65535; v > 0; --v) {
      if (counts[size_t(v)]) {
        last = v;
        break;
      }
    }
    top = std::max(top, double(last) + 1);
    max_ = std::min(65536.0, std::max(16.0, top));
    std::vector<uint64_t> sum(256, 0);
    for (int v = 0; v < int(max_) && v < 65536; ++v) sum[size_t(std::min(255.0, v * 256.0 / max_))] += counts[size_t(v)];
    for (size_t b = 0; b < 256; ++b) bins_[b] = std::log10(1.0 + double(sum[b]));
  } else {
    max_ = std::min(65536.0, std::max(16.0, top));
  }
  update();
}

double HistogramWidget::x_of(double value) const { return 4 + (width() - 8) * value / max_; }
double HistogramWidget::value_of(double x) const { return std::clamp((x - 4) / (width() - 8) * max_, 0.0, 65535.0); }

void HistogramWidget::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), QColor(30, 30, 32));
  const ChannelDisplay* cd = find_channel(model_->state(), channel_);
  const QColor col = cd ? qcolor(cd->color) : QColor(Qt::white);
  const double peak = std::max(1e-9, *std::max_element(bins_.begin(), bins_.end()));
  const double bw = (width() - 8) / 256.0;
  for (size_t b = 0; b < bins_.size(); ++b) {
    const double h = (height() - 16) * bins_[b] / peak;
    p.fillRect(QRectF(4 + b * bw, height() - 12 - h, std::max(1.0, bw), h), col.darker(130));
  }
  p.setPen(QColor(160, 160, 160));
  p.drawText(QRect(4, height() - 12, width() - 8, 12), Qt::AlignRight, QString::number(int(max_)));
  if (!cd) return;
  for (double v : {double(cd->low), double(cd->high)}) {
    const double x = x_of(v);
    p.setPen(QPen(Qt::white, 2));
    p.drawLine(QPointF(x, 2), QPointF(x, height() - 12));
    p.fillRect(QRectF(x - 4, 2, 8, 8), Qt::white);
  }
}

void HistogramWidget::mousePressEvent(QMouseEvent* e) {
  const ChannelDisplay* cd = find_channel(model_->state(), channel_);
  if (!cd) return;
  const double x = e->position().x();
  dragging_ = std::abs(x - x_of(cd->low)) <= std::abs(x - x_of(cd->high)) ? 1 : 2;
  mouseMoveEvent(e);
}

void HistogramWidget::mouseMoveEvent(QMouseEvent* e) {
  const ChannelDisplay* cd = find_channel(model_->state(), channel_);
  if (!dragging_ || !cd) return;
  const float v = float(std::lround(value_of(e->position().x())));
  if (dragging_ == 1) {
    model_->set_channel_window(channel_, std::min(v, cd->high - 1), cd->high);
  } else {
    model_->set_channel_window(channel_, cd->low, std::max(v, cd->low + 1));
  }
}

void HistogramWidget::mouseReleaseEvent(QMouseEvent*) { dragging_ = 0; }

ChannelPanel::ChannelPanel(ViewerModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  auto* outer = new QVBoxLayout(this);
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setMinimumHeight(170);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setMinimumWidth(360);
  list_host_ = new QWidget(scroll);
  list_ = new QVBoxLayout(list_host_);
  list_->setContentsMargins(2, 2, 2, 2);
  scroll->setWidget(list_host_);
  outer->addWidget(scroll, 1);
  hist_label_ = new QLabel(this);
  outer->addWidget(hist_label_);
  histogram_ = new HistogramWidget(model_, this);
  outer->addWidget(histogram_);
  auto* buttons = new QHBoxLayout();
  auto* auto_all = new QPushButton("Auto-contrast all", this);
  auto* reset_all = new QPushButton("Reset all", this);
  buttons->addWidget(auto_all);
  buttons->addWidget(reset_all);
  outer->addLayout(buttons);
  connect(auto_all, &QPushButton::clicked, this, [this] {
    if (Status s = model_->auto_contrast(-1); !s.ok()) emit model_->message(QString::fromStdString(s.message()), 4000);
  });
  connect(reset_all, &QPushButton::clicked, this, [this] { model_->reset_channel(-1); });
  connect(model_, &ViewerModel::slideOpened, this, [this] { rebuild(); });
  connect(model_, &ViewerModel::stateChanged, this, [this] { sync(); });
  rebuild();
}

void ChannelPanel::select(int channel) {
  histogram_->set_channel(channel);
  sync();
}

void ChannelPanel::rebuild() {
  for (auto& r : rows_) {
    for (QWidget* w : {static_cast<QWidget*>(r.visible), static_cast<QWidget*>(r.color), static_cast<QWidget*>(r.low),
                       static_cast<QWidget*>(r.high), static_cast<QWidget*>(r.gamma), static_cast<QWidget*>(r.autob),
                       static_cast<QWidget*>(r.reset), static_cast<QWidget*>(r.select)})
      w->deleteLater();
  }
  rows_.clear();
  while (QLayoutItem* it = list_->takeAt(0)) {
    if (it->layout()) it->layout()->deleteLater();
    delete it;
  }
  const SlideSource* slide = model_->slide();
  if (!slide) return;
  for (const auto& cd : model_->state().display.channels) {
    Row r;
    r.channel = cd.channel;
    const auto& info = slide->channels()[size_t(cd.channel)];
    auto* grid = new QGridLayout();
    r.visible = new QCheckBox(QString("%1 %2").arg(cd.channel + 1).arg(QString::fromStdString(info.name)), list_host_);
    r.color = new QPushButton(list_host_);
    r.color->setToolTip("display colour");
    r.select = new QPushButton("hist", list_host_);
    r.select->setToolTip("show this channel's histogram");
    r.select->setCheckable(true);
    r.low = new QSpinBox(list_host_);
    r.high = new QSpinBox(list_host_);
    for (QSpinBox* s : {r.low, r.high}) {
      s->setRange(0, 65535);
      s->setKeyboardTracking(false);
    }
    r.low->setToolTip("window low (raw intensity shown black)");
    r.high->setToolTip("window high (raw intensity shown at full colour)");
    r.gamma = new QDoubleSpinBox(list_host_);
    r.gamma->setRange(view::kMinGamma, view::kMaxGamma);
    r.gamma->setSingleStep(0.1);
    r.gamma->setDecimals(2);
    r.gamma->setPrefix(QString::fromUtf8("\u03b3 "));
    r.gamma->setKeyboardTracking(false);
    r.autob = new QPushButton("Auto", list_host_);
    r.autob->setToolTip("window from the visible region's 0.5% and 99.5% percentiles");
    r.reset = new QPushButton("Reset", list_host_);
    for (QPushButton* b : {r.color, r.select, r.autob, r.reset}) b->setMaximumWidth(52);
    for (QAbstractSpinBox* b : {static_cast<QAbstractSpinBox*>(r.low), static_cast<QAbstractSpinBox*>(r.high),
                                static_cast<QAbstractSpinBox*>(r.gamma)})
      b->setMaximumWidth(78);
    grid->addWidget(r.visible, 0, 0, 1, 3);
    grid->addWidget(r.color, 0, 3);
    grid->addWidget(r.select, 0, 4);
    grid->addWidget(r.low, 1, 0);
    grid->addWidget(r.high, 1, 1);
    grid->addWidget(r.gamma, 1, 2);
    grid->addWidget(r.autob, 1, 3);
    grid->addWidget(r.reset, 1, 4);
    list_->addLayout(grid);
    const int ch = cd.channel;
    connect(r.visible, &QCheckBox::toggled, this, [this, ch](bool on) { model_->set_channel_visible(ch, on); });
    connect(r.color, &QPushButton::clicked, this, [this, ch] {
      const ChannelDisplay* c = find_channel(model_->state(), ch);
      if (!c) return;
      // Window-modal (open(), not exec()): the window keeps drawing, and the
      // colour is previewed in the mixer while it is chosen; Cancel puts the
      // old one back.
      auto* dialog = new QColorDialog(qcolor(c->color), this);
      dialog->setObjectName("channel_colour_dialog");
      dialog->setWindowTitle(QString("Channel %1 colour").arg(ch + 1));
      dialog->setAttribute(Qt::WA_DeleteOnClose);
      const Rgb before = c->color;
      auto to_rgb = [](const QColor& q) { return Rgb{float(q.redF()), float(q.greenF()), float(q.blueF())}; };
      connect(dialog, &QColorDialog::currentColorChanged, this,
              [this, ch, to_rgb](const QColor& q) { model_->set_channel_color(ch, to_rgb(q)); });
      connect(dialog, &QColorDialog::colorSelected, this,
              [this, ch, to_rgb](const QColor& q) { model_->set_channel_color(ch, to_rgb(q)); });
      connect(dialog, &QDialog::rejected, this, [this, ch, before] { model_->set_channel_color(ch, before); });
      dialog->open();
    });
    connect(r.low, &QSpinBox::valueChanged, this, [this, ch](int v) {
      if (const ChannelDisplay* c = find_channel(model_->state(), ch)) model_->set_channel_window(ch, float(v), std::max(c->high, float(v) + 1));
    });
    connect(r.high, &QSpinBox::valueChanged, this, [this, ch](int v) {
      if (const ChannelDisplay* c = find_channel(model_->state(), ch)) model_->set_channel_window(ch, std::min(c->low, float(v) - 1), float(v));
    });
    connect(r.gamma, &QDoubleSpinBox::valueChanged, this, [this, ch](double g) { model_->set_channel_gamma(ch, float(g)); });
    connect(r.autob, &QPushButton::clicked, this, [this, ch] {
      if (Status s = model_->auto_contrast(ch); !s.ok()) emit model_->message(QString::fromStdString(s.message()), 4000);
    });
    connect(r.reset, &QPushButton::clicked, this, [this, ch] { model_->reset_channel(ch); });
    connect(r.select, &QPushButton::clicked, this, [this, ch] { select(ch); });
    rows_.push_back(r);
  }
  list_->addStretch(1);
  histogram_->set_channel(rows_.empty() ? 0 : rows_[0].channel);
  sync();
}

void ChannelPanel::sync() {
  const ViewState& s = model_->state();
  for (auto& r : rows_) {
    const ChannelDisplay* c = find_channel(s, r.channel);
    if (!c) continue;
    const QSignalBlocker b1(r.visible), b2(r.low), b3(r.high), b4(r.gamma), b5(r.select);
    r.visible->setChecked(c->enabled);
    set_button_color(r.color, c->color);
    r.low->setValue(int(std::lround(c->low)));
    r.high->setValue(int(std::lround(c->high)));
    r.gamma->setValue(c->gamma);
    r.select->setChecked(r.channel == histogram_->channel());
  }
  const SlideSource* slide = model_->slide();
  const int ch = histogram_->channel();
  if (slide && ch >= 0 && size_t(ch) < slide->channels().size()) {
    hist_label_->setText(QString("Histogram: channel %1 %2 (visible region)")
                             .arg(ch + 1)
                             .arg(QString::fromStdString(slide->channels()[size_t(ch)].name)));
  }
}

}  // namespace vslide::app

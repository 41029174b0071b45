#include "vslide/app/catalog_dialog.h"

#include <QComboBox>
#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QTableWidget>
#include <QThreadPool>
#include <QVBoxLayout>
#include <memory>

namespace vslide::app {

CatalogDialog::CatalogDialog(const QString& url, QWidget* parent) : QDialog(parent) {
  setWindowTitle("Slide catalog");
  resize(820, 420);
  auto* v = new QVBoxLayout(this);
  auto* top = new QHBoxLayout();
  url_ = new QLineEdit(url, this);
  url_->setPlaceholderText("/path/catalog.sqlite, sqlite:///path or postgresql://user@host/db");
  auto* connect_b = new QPushButton("List", this);
  top->addWidget(new QLabel("Catalog:", this));
  top->addWidget(url_, 1);
  top->addWidget(connect_b);
  v->addLayout(top);
  auto* filter = new QHBoxLayout();
  name_ = new QLineEdit(this);
  name_->setPlaceholderText("name contains...");
  state_ = new QComboBox(this);
  state_->addItems({"any state", "scanning", "complete", "failed", "recovered"});
  filter->addWidget(name_, 1);
  filter->addWidget(state_);
  v->addLayout(filter);
  table_ = new QTableWidget(0, 5, this);
  table_->setHorizontalHeaderLabels({"Name", "State", "Planes", "Id", "Path"});
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->horizontalHeader()->setStretchLastSection(true);
  v->addWidget(table_, 1);
  status_ = new QLabel(this);
  v->addWidget(status_);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, this);
  v->addWidget(buttons);
  connect(connect_b, &QPushButton::clicked, this, &CatalogDialog::reload);
  connect(url_, &QLineEdit::returnPressed, this, &CatalogDialog::reload);
  connect(name_, &QLineEdit::textChanged, this, &CatalogDialog::fill);
  connect(state_, &QComboBox::currentIndexChanged, this, &CatalogDialog::fill);
  connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) { accept_row(row); });
  connect(buttons, &QDialogButtonBox::accepted, this, [this] { accept_row(table_->currentRow()); });
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  if (!url.isEmpty()) reload();
}

QString CatalogDialog::url() const { return url_->text().trimmed(); }
int CatalogDialog::rows() const { return table_->rowCount(); }

void CatalogDialog::reload() {
  const std::string url = this->url().toStdString();
  if (url.empty()) {
    status_->setText("enter a catalog: a SQLite file or a postgresql:// URL");
    return;
  }
  status_->setText("listing " + this->url() + " ...");
  const uint64_t gen = ++generation_;
  QPointer<CatalogDialog> self(this);
  QThreadPool::globalInstance()->start([self, url, gen] {
    using Listed = Result<std::vector<SlideRecord>>;
    auto result = std::make_shared<Listed>(Status::unavailable("not listed"));
    auto cat = open_catalog(url);
    *result = cat.ok() ? (*cat)->list() : Listed(cat.status());
    QMetaObject::invokeMethod(
        QCoreApplication::instance(),
        [self, result, gen] {
          if (!self || gen != self->generation_) return;
          if (!result->ok()) {
            self->records_.clear();
            self->status_->setText("cannot list the catalog: " + QString::fromStdString(result->status().to_string()) +
                                   " (press List to retry)");
          } else {
            self->records_ = std::move(**result);
            self->status_->setText(QString("%1 slides").arg(self->records_.size()));
          }
          self->fill();
          emit self->loaded();
        },
        Qt::QueuedConnection);
  });
}

void CatalogDialog::fill() {
  table_->setRowCount(0);
  const std::string name = name_->text().toStdString();
  const QString state = state_->currentIndex() == 0 ? QString() : state_->currentText();
  for (size_t i = 0; i < records_.size(); ++i) {
    const SlideRecord& r = records_[i];
    const QString st = QString::fromStdString(std::string(slide_state_name(r.state)));
    if (!name.empty() && r.name.find(name) == std::string::npos && r.id.find(name) == std::string::npos) continue;
    if (!state.isEmpty() && st != state) continue;
    const int row = table_->rowCount();
    table_->insertRow(row);
    const QStringList cells = {QString::fromStdString(r.name), st, QString::number(r.tile_count),
                               QString::fromStdString(r.id), QString::fromStdString(r.path)};
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = new QTableWidgetItem(cells[c]);
      item->setData(Qt::UserRole, int(i));
      table_->setItem(row, c, item);
    }
  }
}

void CatalogDialog::accept_row(int row) {
  if (row < 0 || row >= table_->rowCount()) {
    status_->setText("choose a slide first");
    return;
  }
  const SlideRecord& r = records_[size_t(table_->item(row, 0)->data(Qt::UserRole).toInt())];
  if (!QFileInfo::exists(QString::fromStdString(r.path))) {
    status_->setText(QString::fromStdString(r.path + " is not on this machine (host " + r.host +
                                            "): open it through its tile server, tcp://HOST:PORT/" + r.id));
    return;
  }
  chosen_ = QString::fromStdString(r.path);
  accept();
}

}  // namespace vslide::app

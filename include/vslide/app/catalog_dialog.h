// CatalogDialog: the slides a catalog lists (SQLite path or postgresql://
// URL, as `vslide catalog` takes), filtered by name and state; Open hands
// the chosen slide's path to the window. Catalog calls run off the UI
// thread (a PostgreSQL server may be slow or down).
//
// Thread-safety: a widget of the UI thread.
#pragma once

#include <QDialog>
#include <string>
#include <vector>

#include "vslide/catalog/catalog.h"

class QLineEdit;
class QComboBox;
class QTableWidget;
class QLabel;

namespace vslide::app {

class CatalogDialog : public QDialog {
  Q_OBJECT
 public:
  explicit CatalogDialog(const QString& url, QWidget* parent = nullptr);
  QString chosen() const { return chosen_; }  // the path to open
  QString url() const;
  // Lists the catalog again (asynchronous; the table fills when done).
  void reload();
  int rows() const;
  QTableWidget* table() const { return table_; }

 signals:
  void loaded();

 private:
  void fill();
  void accept_row(int row);
  QLineEdit* url_ = nullptr;
  QLineEdit* name_ = nullptr;
  QComboBox* state_ = nullptr;
  QTableWidget* table_ = nullptr;
  QLabel* status_ = nullptr;
  std::vector<SlideRecord> records_;
  QString chosen_;
  uint64_t generation_ = 0;
};

}  // namespace vslide::app

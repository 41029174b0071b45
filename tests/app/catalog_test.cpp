// The catalog browser lists a real SQLite catalog, filters by name and
// state, and hands back the chosen slide's path.
#include <gtest/gtest.h>

#include <QComboBox>
#include <QLineEdit>
#include <QTableWidget>

#include "app_fixture.h"
#include "vslide/app/catalog_dialog.h"
#include "vslide/catalog/catalog.h"

namespace vslide::app {
namespace {

using namespace vslide::app::testing;

TEST(CatalogDialogTest, ListsFiltersAndOpens) {
  std::string why;
  if (!ensure_app(&why)) GTEST_SKIP() << "no X server: " << why;
  vslide::testing::TempDir dir;
  const std::string db = dir.file("catalog.sqlite"), slide = dir.file("a.h5");
  write_scan(small_scan(2, 1), slide);
  {
    auto cat = open_catalog(db);
    ASSERT_TRUE(cat.ok()) << cat.status().to_string();
    SlideRecord a;
    a.id = "vs-a";
    a.name = "plate 1 well A1";
    a.path = slide;
    a.state = SlideState::kComplete;
    SlideRecord b;
    b.id = "vs-b";
    b.name = "plate 2 well B4";
    b.path = dir.file("elsewhere.h5");  // not on this machine
    b.state = SlideState::kScanning;
    ASSERT_TRUE((*cat)->add(a).ok());
    ASSERT_TRUE((*cat)->add(b).ok());
  }
  CatalogDialog d(QString::fromStdString(db));
  bool loaded = false;
  QObject::connect(&d, &CatalogDialog::loaded, [&] { loaded = true; });
  ASSERT_TRUE(wait_until([&] { return loaded; }));
  EXPECT_EQ(d.rows(), 2);
  d.findChild<QComboBox*>()->setCurrentText("scanning");
  EXPECT_EQ(d.rows(), 1);
  d.findChild<QComboBox*>()->setCurrentIndex(0);
  for (QLineEdit* e : d.findChildren<QLineEdit*>()) {
    if (e->placeholderText().startsWith("name")) e->setText("well A1");
  }
  ASSERT_EQ(d.rows(), 1);
  d.table()->setCurrentCell(0, 0);
  emit d.table()->cellDoubleClicked(0, 0);
  EXPECT_EQ(d.result(), QDialog::Accepted);
  EXPECT_EQ(d.chosen().toStdString(), slide);

  // An unreachable catalog is a message, not a hang or a crash.
  CatalogDialog bad("postgresql://nobody@127.0.0.1:1/none");
  bool bad_loaded = false;
  QObject::connect(&bad, &CatalogDialog::loaded, [&] { bad_loaded = true; });
  ASSERT_TRUE(wait_until([&] { return bad_loaded; }));
  EXPECT_EQ(bad.rows(), 0);
}

}  // namespace
}  // namespace vslide::app

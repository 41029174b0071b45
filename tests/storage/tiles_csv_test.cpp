// The tiles CSV parser (vslide/storage/tiles_csv.h): what a good CSV gives,
// and every bad case with the exact message. `fuzz_tiles_csv` runs the same
// parser on mutated text.
#include "vslide/storage/tiles_csv.h"

#include <gtest/gtest.h>

namespace vslide {
namespace {

TEST(TilesCsv, RowsInOrderWithKeysPagesAndPositions) {
  const std::string text =
      "\xEF\xBB\xBFpath,row,col,channel,stage_x_um,stage_y_um,z,t,page,stage_z_um\r\n"
      "a.tif,0,1,2,10.5,-20,3,4,5,1.25\r\n"
      "\r\n"
      "\"b,c.tif\", 0 ,1,3,10.5,-20,3,4,0,1.25\n";
  auto r = parse_tiles_csv(text, "t.csv", PositionUnits::kUnknown);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->units, PositionUnits::kMicrometres);
  EXPECT_TRUE(r->has_page_column);
  ASSERT_EQ(r->rows.size(), 2u);
  const TilesCsvRow& a = r->rows[0];
  EXPECT_EQ(a.path, "a.tif");
  EXPECT_EQ(a.key, (TileKey{0, 1, 2, 3, 4}));
  EXPECT_EQ(a.page, 5);
  EXPECT_DOUBLE_EQ(a.x, 10.5);
  EXPECT_DOUBLE_EQ(a.y, -20);
  EXPECT_DOUBLE_EQ(a.z_um, 1.25);
  EXPECT_EQ(a.line, 2);
  EXPECT_EQ(r->rows[1].path, "b,c.tif");
  EXPECT_EQ(r->rows[1].line, 4);
  EXPECT_EQ(r->rows[1].key.channel, 3);
}

TEST(TilesCsv, UnitsFromTheColumnsOrTheCaller) {
  auto px = parse_tiles_csv("path,row,col,channel,stage_x_px,stage_y_px\nf.tif,0,0,0,100,200\n", "t.csv",
                            PositionUnits::kUnknown);
  ASSERT_TRUE(px.ok()) << px.status().to_string();
  EXPECT_EQ(px->units, PositionUnits::kPixels);
  EXPECT_FALSE(px->has_page_column);
  EXPECT_EQ(px->rows[0].page, -1);
  const std::string bare = "path,row,col,channel,stage_x,stage_y\nf.tif,0,0,0,1,2\n";
  auto none = parse_tiles_csv(bare, "t.csv", PositionUnits::kUnknown);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "t.csv: columns stage_x/stage_y do not say their unit: give --position-units um or px");
  auto given = parse_tiles_csv(bare, "t.csv", PositionUnits::kPixels);
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->units, PositionUnits::kPixels);
  auto contra = parse_tiles_csv("path,row,col,channel,stage_x_um,stage_y_um\nf.tif,0,0,0,1,2\n", "t.csv",
                                PositionUnits::kPixels);
  ASSERT_FALSE(contra.ok());
  EXPECT_EQ(contra.status().message(), "t.csv: columns stage_x_um/stage_y_um contradict --position-units");
  EXPECT_EQ(parse_position_units("µm").value(), PositionUnits::kMicrometres);
  EXPECT_FALSE(parse_position_units("furlong").ok());
}

TEST(TilesCsv, EveryBadRowNamesItsLineAndWhatWasWrong) {
  const std::string head = "path,row,col,channel,stage_x_um,stage_y_um\n";
  struct Case {
    std::string rows, expect;
    StatusCode code = StatusCode::kInvalidArgument;
  } cases[] = {
      {"f.tif,1.5,0,0,0,0\n", "t.csv line 2: row '1.5' is not an integer"},
      {"f.tif,1e3,0,0,0,0\n", "t.csv line 2: row '1e3' is not an integer"},
      {"f.tif,,0,0,0,0\n", "t.csv line 2: row '' is not an integer"},
      {"f.tif,-1,0,0,0,0\n", "t.csv line 2: row -1 is outside 0..100000"},
      {"f.tif,99999999999999999999,0,0,0,0\n", "t.csv line 2: row '99999999999999999999' is not an integer"},
      {"f.tif,0,0,0,nan,0\n", "t.csv line 2: stage_x_um 'nan' is not a finite number"},
      {"f.tif,0,0,0,inf,0\n", "t.csv line 2: stage_x_um 'inf' is not a finite number"},
      {"f.tif,0,0,0,1e999,0\n", "t.csv line 2: stage_x_um '1e999' is not a finite number"},
      {"f.tif,0,0,0,0x10,0\n", "t.csv line 2: stage_x_um '0x10' is not a finite number"},
      {"f.tif,0,0,0,1e308,0\n", "t.csv line 2: stage_x_um 1e308 is beyond +-1000000"},
      {"f.tif,0,0,99,0,0\n", "t.csv line 2: channel 99 is outside 0..63"},
      {"f.tif,0,0\n", "t.csv line 2: 3 fields, the header has 6"},
      {",0,0,0,0,0\n", "t.csv line 2: empty path"},
      {"f.tif,0,0,0,0,0\n\ng.tif,0,0,0,0,0\n", "t.csv line 4: duplicate tile (0,0) channel 0",
       StatusCode::kAlreadyExists},
      {"f.tif,0,0,0,0,0\ng.tif,0,0,1,5,0\n",
       "t.csv line 3: field (0,0) at (5, 0) but line 2 put it at (0, 0): a field has one stage position"},
      {"", "t.csv: no tiles listed"},
      {" \n\r\n", "t.csv: no tiles listed"},
  };
  for (const auto& c : cases) {
    auto r = parse_tiles_csv(head + c.rows, "t.csv", PositionUnits::kUnknown);
    ASSERT_FALSE(r.ok()) << c.rows;
    EXPECT_EQ(r.status().code(), c.code) << c.rows;
    EXPECT_EQ(r.status().message(), c.expect) << c.rows;
  }
}

TEST(TilesCsv, BadHeadersAreRefused) {
  struct Case {
    std::string text, expect;
  } cases[] = {
      {"", "t.csv: empty file"},
      {"path,row,row,channel,stage_x_um,stage_y_um\n", "t.csv: column 'row' appears twice"},
      {"path,row,channel,stage_x_um,stage_y_um\nf,0,0,0,0\n", "t.csv: header lacks column 'col'"},
      {"path,row,col,channel,stage_x_um\nf,0,0,0,0\n", "t.csv: header lacks the stage position columns"},
  };
  for (const auto& c : cases) {
    auto r = parse_tiles_csv(c.text, "t.csv", PositionUnits::kUnknown);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().message().substr(0, c.expect.size()), c.expect) << r.status().message();
  }
  std::string huge(kMaxTilesCsvBytes + 1, '\n');
  auto r = parse_tiles_csv(huge, "t.csv", PositionUnits::kUnknown);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("a tiles CSV holds at most"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace vslide

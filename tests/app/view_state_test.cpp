// The ViewState value: JSON round trip, bad input, reconciling with a slide,
// where display settings are saved, and `vslide render --display`.
#include "vslide/view/view_state.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "app_fixture.h"
#include "common/testing.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/frame.h"

namespace vslide::view {
namespace {

ViewState sample() {
  ViewState s;
  s.slide = "/data/slide.h5";
  s.slide_id = "vs-1";
  s.center_x_um = 12.5;
  s.center_y_um = -3.25;
  s.zoom = 0.125;
  s.z = 1;
  s.t = 2;
  s.positions = Positions::kRegistered;
  s.display.channels.push_back(ChannelDisplay{0, Rgb{0, 0, 1}, 100, 3000, 0.5f, true});
  s.display.channels.push_back(ChannelDisplay{2, Rgb{1, 0, 0}, 7, 4095, 1, false});
  s.tile_outlines = true;
  s.layers.push_back(LayerStyle{"nuclei", true, Rgb{0, 1, 0}});
  return s;
}

bool same(const ViewState& a, const ViewState& b) {
  if (a.display.channels.size() != b.display.channels.size()) return false;
  for (size_t i = 0; i < a.display.channels.size(); ++i) {
    const auto &x = a.display.channels[i], &y = b.display.channels[i];
    if (x.channel != y.channel || x.low != y.low || x.high != y.high || x.gamma != y.gamma || x.enabled != y.enabled ||
        rgb_to_hex(x.color) != rgb_to_hex(y.color))
      return false;
  }
  return a.slide == b.slide && a.slide_id == b.slide_id && a.center_x_um == b.center_x_um &&
         a.center_y_um == b.center_y_um && a.zoom == b.zoom && a.z == b.z && a.t == b.t && a.positions == b.positions &&
         a.tile_outlines == b.tile_outlines && a.layers == b.layers;
}

TEST(ViewStateTest, JsonRoundTrip) {
  const ViewState s = sample();
  auto back = parse_view_state(view_state_to_json(s));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(same(s, *back)) << view_state_to_json(*back);
  ASSERT_NE(back->drawn_layer(), nullptr);
  EXPECT_EQ(back->drawn_layer()->layer, "nuclei");
  const DisplaySettings d = drawn_display(*back);  // hidden channels are not drawn
  ASSERT_EQ(d.channels.size(), 1u);
  EXPECT_EQ(d.channels[0].channel, 0);
}

TEST(ViewStateTest, BadInputIsRefusedWithAReason) {
  for (const char* text : {"{", "[1,2]", R"({"zoom": -1})", R"({"positions": "sideways"})",
                           R"({"channels": [{"channel": 0, "low": 5, "high": 5}]})",
                           R"({"channels": [{"channel": 0, "color": "blue"}]})", R"({"center_um": [1]})"}) {
    auto r = parse_view_state(text, "state.json");
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find("state.json"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(load_view_state("/nonexistent/state.json").status().code(), StatusCode::kNotFound);
}

TEST(ViewStateTest, SettingsLiveUnderTheConfigFolderNeverInTheSlide) {
  const std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  unsetenv("VSLIDE_DISPLAY_DIR");
  setenv("XDG_CONFIG_HOME", "/cfg", 1);
  EXPECT_EQ(display_settings_path("vs-1/../x y"), "/cfg/vslide/display/vs-1_.._x_y.json");
  unsetenv("XDG_CONFIG_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(display_settings_path("vs-2"), "/home/u/.config/vslide/display/vs-2.json");
  setenv("VSLIDE_DISPLAY_DIR", "/d", 1);
  EXPECT_EQ(display_settings_path("vs-3"), "/d/vs-3.json");
  unsetenv("VSLIDE_DISPLAY_DIR");
  if (!home.empty()) setenv("HOME", home.c_str(), 1);
}

TEST(ViewStateTest, SavedSettingsAreReconciledWithTheSlideAndRenderUsesThem) {
  vslide::testing::TempDir dir;
  setenv("VSLIDE_DISPLAY_DIR", dir.file("display").c_str(), 1);
  const std::string path = dir.file("s.h5");
  app::testing::write_scan(app::testing::small_scan(3, 1), path);
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  EXPECT_EQ(load_saved_view_state(**slide).status().code(), StatusCode::kNotFound);
  ViewState s = default_view_state(**slide, path);
  ASSERT_EQ(s.display.channels.size(), 3u);
  s.display.channels.erase(s.display.channels.begin() + 1);                  // channel 1 missing
  s.display.channels.push_back(ChannelDisplay{7, Rgb{}, 0, 10, 1, true});  // a channel it lacks
  s.display.channels[0].enabled = false;
  s.display.channels[0].color = Rgb{1, 0, 1};
  s.z = 5;
  ASSERT_TRUE(save_view_state_for_slide(s).ok());
  auto back = load_saved_view_state(**slide, path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->display.channels.size(), 3u);
  EXPECT_FALSE(back->display.channels[0].enabled);
  EXPECT_EQ(back->display.channels[1].channel, 1);
  EXPECT_EQ(back->z, 0);  // clamped: one z plane

  // render --display: only channel 2, red, differs from the default look;
  // and the slide's saved settings apply when no file is given.
  ViewState red = default_view_state(**slide, path);
  for (auto& c : red.display.channels) c.enabled = c.channel == 2;
  red.display.channels[2].color = Rgb{1, 0, 0};
  const std::string file = dir.file("red.json");
  ASSERT_TRUE(save_view_state(file, red).ok());
  const std::string v = vslide::testing::vslide_binary();
  auto r1 = vslide::testing::run_command(v + " render " + path + " --cpu --size 160x120 --display " + file +
                                         " --out " + dir.file("red.png"));
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto img = read_png(dir.file("red.png"));
  ASSERT_TRUE(img.ok());
  size_t red_px = 0, other = 0;
  for (size_t i = 0; i < img->pixels.size(); i += 3) {
    red_px += img->pixels[i] > 0;
    other += img->pixels[i + 1] + img->pixels[i + 2] > 0;
  }
  EXPECT_GT(red_px, 100u);
  EXPECT_EQ(other, 0u);
  ASSERT_TRUE(save_view_state_for_slide(red).ok());
  auto r2 = vslide::testing::run_command(v + " render " + path + " --cpu --size 160x120 --out " + dir.file("saved.png"));
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  auto saved = read_png(dir.file("saved.png"));
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(compare_images(*saved, *img).max_abs, 0);
}

}  // namespace
}  // namespace vslide::view

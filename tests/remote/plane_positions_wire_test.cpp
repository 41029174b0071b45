// Per-plane field positions over the wire (docs/PROTOCOL.md, "Versioning"):
// a client that ignores the registration's "planes" would draw every (z, t)
// plane at the reference positions, so a slide that has them is refused to a
// client that does not list the feature "plane_positions", as the file format's
// version 3 is refused by an older reader. Slides without them are served to
// every client as before.
#include <gtest/gtest.h>
#include <zmq_addon.hpp>

#include "remote_fixture.h"
#include "vslide/remote/protocol.h"

namespace vslide::testing {
namespace {

using nlohmann::json;

// Two fields, two time points; when `planes`, field (0,1) of t = 1 stored 2.5 um apart.
std::string make_time_lapse(const TempDir& dir, const std::string& id, bool planes) {
  const std::string path = dir.file(id + ".h5");
  MosaicGeometry g;
  g.rows = 1;
  g.cols = 2;
  g.channels = 1;
  g.timepoints = 2;
  g.tile_height = 48;
  g.tile_width = 40;
  SlideHeader h;
  h.slide_id = id;
  h.name = "time lapse";
  {
    auto s = Hdf5Slide::create(path, h, g, default_channels(1), CreateOptions{});
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    if (!s.ok()) return path;
    for (int c = 0; c < 2; ++c) {
      EXPECT_TRUE((*s)->write_field(FieldOfView{0, c, c * 6.0, 0, 0, 0}).ok());
      for (int t = 0; t < 2; ++t) {
        const TileKey k{0, c, 0, 0, t, 0};
        EXPECT_TRUE((*s)->write_plane(k, remote_test_plane(g.tile_width, g.tile_height, k)).ok());
      }
    }
    EXPECT_TRUE((*s)->finish().ok());
  }
  Registration reg;
  reg.fields = {FieldPlacement{0, 0, 0.5, 0.25, true, 0.01}, FieldPlacement{0, 1, 6.5, 0.25, true, 0.01}};
  reg.channel_offsets = {ChannelOffset{0, 0, 0, 1, 1}};
  reg.report_json = "{}";
  if (planes) reg.plane_fields = {PlanePlacement{0, 1, FieldPlacement{0, 1, 9.0, -1.0, true, 0.02}}};
  auto w = Hdf5Slide::open(path, OpenMode::kAppend);
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  if (!w.ok()) return path;
  EXPECT_TRUE((*w)->write_registration(reg).ok());
  EXPECT_TRUE((*w)->finish().ok());
  return path;
}

// Sends one request on a fresh DEALER socket and returns the reply's JSON.
json ask(const std::string& endpoint, json request) {
  zmq::context_t ctx;
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  sock.set(zmq::sockopt::linger, 0);
  sock.connect(endpoint);
  request["v"] = remote::kProtocolVersion;
  request["id"] = 7;
  sock.send(zmq::message_t(), zmq::send_flags::sndmore);
  sock.send(zmq::buffer(request.dump()));
  std::vector<zmq::message_t> frames;
  zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::chrono::milliseconds(10000)) != 1) return json{{"no_reply", true}};
  (void)zmq::recv_multipart(sock, std::back_inserter(frames));
  if (frames.size() < 2) return json{{"no_reply", true}};
  return json::parse(frames[1].to_string());
}

TEST(PlanePositionsOnTheWire, AClientThatDoesNotFollowThemIsRefusedTheSlide) {
  TempDir dir;
  const std::string path = make_time_lapse(dir, "vs-planes", /*planes=*/true);
  auto server = start_test_server({path});
  ASSERT_NE(server, nullptr);
  const std::string ep = server->endpoint();
  // An older client: no "features". Header and registration are refused, so
  // it cannot open the slide instead of misdrawing it.
  for (const char* op : {"header", "registration"}) {
    json r = ask(ep, json{{"op", op}, {"slide", "vs-planes"}});
    EXPECT_EQ(r.value("ok", true), false) << op << " " << r.dump();
    EXPECT_EQ(r["error"].value("code", ""), "version_mismatch") << r.dump();
    EXPECT_NE(r["error"].value("message", "").find("plane_positions"), std::string::npos) << r.dump();
    EXPECT_EQ(r["error"].value("message", "").find(dir.path().string()), std::string::npos) << "server path leaked";
  }
  // Other ops are not gated (tiles are the same for either kind of client).
  EXPECT_EQ(ask(ep, json{{"op", "index"}, {"slide", "vs-planes"}}).value("ok", false), true);
  // A client that lists the feature gets both, with the per-plane positions.
  const json features = json::array({remote::kFeaturePlanePositions, "some-future-feature"});
  EXPECT_EQ(ask(ep, json{{"op", "header"}, {"slide", "vs-planes"}, {"features", features}}).value("ok", false), true);
  json reg = ask(ep, json{{"op", "registration"}, {"slide", "vs-planes"}, {"features", features}});
  ASSERT_EQ(reg.value("ok", false), true) << reg.dump();
  ASSERT_EQ(reg["registration"]["planes"].size(), 1u) << reg.dump();
  // "features" must be an array of strings.
  json bad = ask(ep, json{{"op", "header"}, {"slide", "vs-planes"}, {"features", "plane_positions"}});
  EXPECT_EQ(bad["error"].value("code", ""), "malformed_request") << bad.dump();
  bad = ask(ep, json{{"op", "header"}, {"slide", "vs-planes"}, {"features", json::array({1})}});
  EXPECT_EQ(bad["error"].value("code", ""), "malformed_request") << bad.dump();

  // The reference client lists it: it opens the slide and reads the plane's own position.
  auto remote = remote::RemoteSlide::open(ep + "/vs-planes");
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  auto r = (*remote)->read_registration();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_NE(r->find(0, 1, 0, 1), nullptr);
  EXPECT_EQ(r->find(0, 1, 0, 1)->x_um, 9.0);
  EXPECT_EQ(r->find(0, 1, 0, 0)->x_um, 6.5);
}

TEST(PlanePositionsOnTheWire, SlidesWithoutThemAreServedToOlderClientsAsBefore) {
  TempDir dir;
  const std::string registered = make_time_lapse(dir, "vs-flat", /*planes=*/false);
  const std::string plain = make_remote_test_slide(dir);
  auto server = start_test_server({registered, plain});
  ASSERT_NE(server, nullptr);
  for (const char* id : {"vs-flat", "vs-remote-0001"}) {
    json h = ask(server->endpoint(), json{{"op", "header"}, {"slide", id}});
    EXPECT_EQ(h.value("ok", false), true) << id << " " << h.dump();
  }
  json reg = ask(server->endpoint(), json{{"op", "registration"}, {"slide", "vs-flat"}});
  ASSERT_EQ(reg.value("ok", false), true) << reg.dump();
  EXPECT_FALSE(reg["registration"].contains("planes"));
}

}  // namespace
}  // namespace vslide::testing

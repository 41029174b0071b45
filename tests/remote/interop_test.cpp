// A Python client (Debian's python3-zmq, h5py, numpy) talks the documented
// protocol and checks tiles against h5py's read of the same file.
#include <filesystem>

#include <gtest/gtest.h>

#include "remote_fixture.h"

namespace vslide {
namespace {

TEST(RemoteInterop, PythonClientMatchesH5py) {
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/python3")) << "/usr/bin/python3 missing: scripts/install-deps.sh installs python3-zmq";
  auto probe = testing::run_command("/usr/bin/python3 -c 'import zmq, h5py, numpy'");
  ASSERT_EQ(probe.exit_code, 0) << "Debian's python3-zmq/h5py/numpy needed: " << probe.output;
  testing::TempDir dir;
  for (int blocks : {1, 4}) {
    testing::RemoteSlideSpec spec;
    spec.id = blocks == 1 ? "vs-py-1" : "vs-py-4";
    spec.chunk_height = blocks == 1 ? 0 : 24;
    spec.chunk_width = blocks == 1 ? 0 : 20;
    spec.with_layers = false;
    auto path = testing::make_remote_test_slide(dir, spec);
    auto server = testing::start_test_server({path});
    ASSERT_NE(server, nullptr);
    const std::string script = std::string(VSLIDE_SOURCE_DIR) + "/tests/remote/interop_client.py";
    auto r = testing::run_command("/usr/bin/python3 " + script + " " + server->endpoint() + " " + spec.id + " " + path);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("OK"), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace vslide

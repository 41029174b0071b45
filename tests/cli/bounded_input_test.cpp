// Issue 16, bounded input from the command line: every option's range checked
// up front, strict numbers, outputs that never overwrite an input, partial
// outputs never left behind. Each case failed on be2c356.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/testing.h"

namespace vslide {
namespace {

using testing::run_command;
using testing::TempDir;

std::string vslide() { return testing::vslide_binary(); }

TEST(BoundedInput, OutOfRangeOptionsAreRefusedBeforeAnyWork) {
  TempDir dir;
  const std::string out = dir.file("s.h5");
  struct Case {
    std::string args, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"simulate " + out + " --rows 99999999", "1..1000"},
           {"simulate " + out + " --cols 0", "1..1000"},
           {"simulate " + out + " --rows 1.5", "'1.5'"},
           {"simulate " + out + " --stage-jitter-um inf", "'inf'"},
           {"simulate " + out + " --overlap nan", "'nan'"},
           {"simulate " + out + " --overlap 1e308", "[0, 0.9]"},
           {"simulate " + out + " --channels 64 --z 4096 --timepoints 2", "planes per field"},
           {"simulate " + out + " --tile 65536x65536", "pixels"},
           {"scan --simulate --window 0", "4096"},
           {"scan --simulate --window -1", "4096"},
           {"scan --simulate --reply-timeout 0", "--reply-timeout"},
           {"serve x.h5 --bind tcp://127.0.0.1:* --workers 0", "1..256"},
           {"broker --frontend tcp://127.0.0.1:* --backend tcp://127.0.0.1:* --heartbeat-ms 0", "10..60000"},
       }) {
    auto r = run_command(vslide() + " " + c.args + " 2>&1");
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(BoundedInput, ExportTileRefusesToOverwriteItsInputAndLeavesNoPartialTiff) {
  TempDir dir;
  const std::string slide = dir.file("s.h5");
  auto r = run_command(vslide() + " simulate " + slide + " --rows 1 --cols 1 --channels 1 --tile 64x48 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto size = std::filesystem::file_size(slide);
  r = run_command(vslide() + " export-tile " + slide + " --row 0 --col 0 --channel 0 --out " + slide + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(std::filesystem::file_size(slide), size);
  // The same file under another spelling.
  r = run_command("cd " + dir.path().string() + " && " + vslide() +
                  " export-tile s.h5 --row 0 --col 0 --channel 0 --out ./s.h5 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // A write that fails half-way (file size limit: EFBIG) leaves nothing behind.
  const std::string tif = dir.file("t.tif");
  r = run_command("trap '' XFSZ; ulimit -f 4; " + vslide() + " export-tile " + slide +
                  " --row 0 --col 0 --channel 0 --out " + tif + " 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(tif)) << "a partial TIFF was left behind";
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
}

TEST(BoundedInput, OutputsAreNeverWrittenThroughALinkPlantedAtTheTemporaryName) {
  // Found auditing issue 16 on 1d55ca3: the temporary name was OUT.tmp-PID, so
  // a symlink planted there (in a shared folder) made export-tile write its
  // TIFF into the link's target. `exec` keeps the shell's pid ($$) for vslide.
  TempDir dir;
  const std::string slide = dir.file("s.h5");
  auto r = run_command(vslide() + " simulate " + slide + " --rows 1 --cols 1 --channels 1 --tile 64x48 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string victim = dir.file("victim.txt");
  std::ofstream(victim) << "precious";
  r = run_command("cd " + dir.path().string() + " && sh -c 'ln -s victim.txt t.tif.tmp-$$ && exec " + vslide() +
                  " export-tile s.h5 --row 0 --col 0 --channel 0 --out t.tif' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(dir.file("t.tif")));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("t.tif")));
}

TEST(BoundedInput, RenderRefusesToWriteItsPngOverItsSlideOrDisplayFile) {
  // Found auditing issue 16 on 1d55ca3: `render s.h5 --out s.h5` replaced the
  // slide with a PNG and exited 0.
  TempDir dir;
  const std::string slide = dir.file("s.h5");
  auto r = run_command(vslide() + " simulate " + slide + " --rows 1 --cols 1 --channels 1 --tile 64x48 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto size = std::filesystem::file_size(slide);
  const std::string render = vslide() + " render " + slide + " --cpu --size 32x32 --fit";
  r = run_command(render + " --out " + slide + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("is the slide itself"), std::string::npos) << r.output;
  r = run_command("cd " + dir.path().string() + " && " + vslide() + " render ./s.h5 --cpu --size 32x32 --fit --out s.h5 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(std::filesystem::file_size(slide), size);
  const std::string display = dir.file("view.json");
  std::ofstream(display) << "{}";
  r = run_command(render + " --display " + display + " --out " + display + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("is the --display file"), std::string::npos) << r.output;
  // A good run still writes its PNG, and no temporary file is left.
  const std::string png = dir.file("v.png");
  r = run_command(render + " --out " + png + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(png));
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
}

TEST(BoundedInput, AcquisitionEndpointsAndManagerOptionsAreCheckedUpFront) {
  // Found auditing issue 16 on 1d55ca3: `manager --bind tcp://127.0.0.1:99999`
  // listened on a random port, `scan --manager` and `serve --connect` to port
  // 99999 retried forever, and the manager took --max-scans -1 (no cap),
  // --writer-threads 100000 or -3 and negative timeouts without a word.
  TempDir dir;
  const std::string data = dir.file("data");
  const std::string manager = vslide() + " manager start --bind tcp://127.0.0.1:* --data-dir " + data;
  struct Case {
    std::string args, expect;
  };
  for (const Case& c : std::vector<Case>{
           {vslide() + " manager start --bind tcp://127.0.0.1:99999 --data-dir " + data, "99999"},
           {vslide() + " manager status --manager tcp://127.0.0.1:99999", "99999"},
           {vslide() + " manager stop --manager tcp://127.0.0.1:0", "'0'"},
           {vslide() + " scan --simulate --manager tcp://127.0.0.1:99999", "99999"},
           {vslide() + " scan --simulate --manager tcp://127.0.0.1", "port"},
           {vslide() + " serve x.h5 --connect tcp://127.0.0.1:99999", "99999"},
           {manager + " --max-scans 0", "--max-scans"},
           {manager + " --max-scans -1", "--max-scans"},
           {manager + " --writer-threads 100000", "--writer-threads"},
           {manager + " --writer-threads -3", "--writer-threads"},
           {manager + " --max-restarts -1", "--max-restarts"},
           {manager + " --idle-timeout -1", "--idle-timeout"},
           {manager + " --recover-wait -1", "--recover-wait"},
           {manager + " --max-buffer-mb -1", "--max-buffer-mb"},
           {manager + " --spool-max-mb 0", "--spool-max-mb"},
       }) {
    auto r = run_command("timeout 5 " + c.args + " 2>&1");
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(data)) << "a refused manager created its data folder";
}

TEST(BoundedInput, KeygenLeavesNoPartialKeyAndCreatesTheSecretPrivate) {
  TempDir dir;
  const std::string prefix = dir.file("k");
  // A full disk (here: a file size limit of 0 blocks) leaves no 0-byte key that blocks a retry.
  auto r = run_command("trap '' XFSZ; ulimit -f 0; " + vslide() + " keygen " + prefix + " 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(prefix + ".key"));
  EXPECT_FALSE(std::filesystem::exists(prefix + ".key_secret"));
  r = run_command("umask 000; " + vslide() + " keygen " + prefix + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  struct stat st {};
  ASSERT_EQ(::stat((prefix + ".key_secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((prefix + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

}  // namespace
}  // namespace vslide

// Multi-page TIFF reading (libtiff-written files, every page bit-exact),
// size checks before allocation, and OME-XML parsing.
#include <gtest/gtest.h>
#include <tiffio.h>

#include <fstream>
#include <random>

#include "common/testing.h"
#include "vslide/storage/ome_xml.h"
#include "vslide/storage/tiff_io.h"

namespace vslide {
namespace {

using testing::TempDir;

Image16 pattern(int w, int h, int seed) {
  Image16 img(w, h);
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  for (auto& v : img.pixels()) v = uint16_t(rng());
  return img;
}

struct PageSpec {
  bool tiled = false;
  uint16_t compression = COMPRESSION_NONE;
};

// Writes `pages` as one multi-page TIFF with libtiff, optionally with an
// ImageDescription on the first page.
void write_pages(const std::string& path, const std::vector<Image16>& pages, PageSpec spec,
                 const std::string& description = "") {
  TIFF* tif = TIFFOpen(path.c_str(), "w");
  ASSERT_NE(tif, nullptr);
  for (size_t i = 0; i < pages.size(); ++i) {
    const Image16& img = pages[i];
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, uint32_t(img.width()));
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, uint32_t(img.height()));
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, uint16_t(16));
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, uint16_t(1));
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, uint16_t(PHOTOMETRIC_MINISBLACK));
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, uint16_t(PLANARCONFIG_CONTIG));
    TIFFSetField(tif, TIFFTAG_COMPRESSION, spec.compression);
    if (i == 0 && !description.empty()) TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, description.c_str());
    if (spec.tiled) {
      TIFFSetField(tif, TIFFTAG_TILEWIDTH, uint32_t(16));
      TIFFSetField(tif, TIFFTAG_TILELENGTH, uint32_t(16));
      std::vector<uint16_t> buf(256);
      for (int y = 0; y < img.height(); y += 16) {
        for (int x = 0; x < img.width(); x += 16) {
          std::fill(buf.begin(), buf.end(), 0);
          for (int yy = 0; yy < 16 && y + yy < img.height(); ++yy) {
            for (int xx = 0; xx < 16 && x + xx < img.width(); ++xx) buf[size_t(yy * 16 + xx)] = img.at(x + xx, y + yy);
          }
          ASSERT_GE(TIFFWriteTile(tif, buf.data(), uint32_t(x), uint32_t(y), 0, 0), 0);
        }
      }
    } else {
      TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, uint32_t(7));
      for (int y = 0; y < img.height(); ++y) {
        ASSERT_GE(TIFFWriteScanline(tif, const_cast<uint16_t*>(img.row(y)), uint32_t(y), 0), 0);
      }
    }
    ASSERT_TRUE(TIFFWriteDirectory(tif));
  }
  TIFFClose(tif);
}

TEST(TiffIo, EveryPageOfAMultiPageFileBitExact) {
  TempDir dir;
  for (PageSpec spec : {PageSpec{false, COMPRESSION_NONE}, PageSpec{false, COMPRESSION_ADOBE_DEFLATE},
                        PageSpec{false, COMPRESSION_LZW}, PageSpec{true, COMPRESSION_ADOBE_DEFLATE}}) {
    std::vector<Image16> pages;
    for (int i = 0; i < 5; ++i) pages.push_back(pattern(37, 29, i + 10 * spec.compression));
    const std::string path = dir.file("multi.tif");
    write_pages(path, pages, spec, "hello");
    auto d = TiffDirectory::open(path);
    ASSERT_TRUE(d.ok()) << d.status().to_string();
    ASSERT_EQ(d->pages.size(), 5u);
    EXPECT_EQ(d->description, "hello");
    EXPECT_EQ(d->pages[3].tiled, spec.tiled);
    for (int i = 4; i >= 0; --i) {  // out of order: pages are reached by offset
      auto img = read_tiff_page(*d, i);
      ASSERT_TRUE(img.ok()) << img.status().to_string();
      EXPECT_TRUE(*img == pages[size_t(i)]) << "page " << i << " compression " << spec.compression;
    }
    EXPECT_EQ(read_tiff_page(*d, 5).status().code(), StatusCode::kOutOfRange);
    EXPECT_TRUE(*read_tiff16(path) == pages[0]);
  }
}

TEST(TiffIo, HugeHeaderInATinyFileIsRefusedBeforeAllocating) {
  TempDir dir;
  for (uint16_t compression : {uint16_t(COMPRESSION_NONE), uint16_t(COMPRESSION_ADOBE_DEFLATE)}) {
    const std::string path = dir.file("huge.tif");
    TIFF* tif = TIFFOpen(path.c_str(), "w");
    ASSERT_NE(tif, nullptr);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, uint32_t(16000));
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, uint32_t(16000));
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, uint16_t(16));
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, uint16_t(1));
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, uint16_t(PHOTOMETRIC_MINISBLACK));
    TIFFSetField(tif, TIFFTAG_COMPRESSION, compression);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, uint32_t(16000));
    std::vector<uint8_t> junk(200, 7);
    ASSERT_GE(TIFFWriteRawStrip(tif, 0, junk.data(), tmsize_t(junk.size())), 0);
    TIFFClose(tif);
    auto d = TiffDirectory::open(path);
    ASSERT_TRUE(d.ok()) << d.status().to_string();
    auto img = read_tiff_page(*d, 0);
    ASSERT_EQ(img.status().code(), StatusCode::kCorruption) << img.status().to_string();
    // Uncompressed, libtiff chops the one strip by the header's size: it then lies past the file's end.
    const std::string expect = compression == COMPRESSION_NONE
                                   ? "huge.tif: strip 0 (32000 bytes at offset 8) lies past the end of the file"
                                   : "huge.tif: header says 16000x16000 pixels (512000000 bytes) but its strips hold 200 bytes";
    EXPECT_NE(img.status().message().find(expect), std::string::npos) << img.status().message();
  }
  // Over the page limit: refused on the tags alone.
  const std::string path = dir.file("wide.tif");
  TIFF* tif = TIFFOpen(path.c_str(), "w");
  TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, uint32_t(65535));
  TIFFSetField(tif, TIFFTAG_IMAGELENGTH, uint32_t(65535));
  TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, uint16_t(16));
  TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, uint32_t(65535));
  std::vector<uint8_t> junk(64, 1);
  TIFFWriteRawStrip(tif, 0, junk.data(), tmsize_t(junk.size()));
  TIFFClose(tif);
  auto img = read_tiff16(path);
  EXPECT_EQ(img.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(img.status().message().find("implausible size 65535x65535"), std::string::npos) << img.status().message();
}

// A little-endian tiled TIFF of width x height 16-bit pixels in 16x16 tiles
// whose TileOffsets and TileByteCounts hold 4 values instead of one per tile,
// the byte counts unequal: libtiff ignores both tags and, for an uncompressed
// page, estimates every tile's byte count from the image size (offsets past
// the fourth read as 0). Built byte by byte, as a fuzzer left it.
std::vector<uint8_t> tiff_with_estimated_byte_counts(uint32_t width, uint32_t height) {
  struct Tag {
    uint16_t tag, type;
    uint32_t count, value;
  };
  const uint32_t ifd = 8, entries = 10, data = ifd + 2 + 12 * entries + 4;
  const std::vector<Tag> tags = {{256, 4, 1, width}, {257, 4, 1, height}, {258, 3, 1, 16},     {259, 3, 1, 1},
                                 {262, 3, 1, 1},     {277, 3, 1, 1},      {322, 3, 1, 16},     {323, 3, 1, 16},
                                 {324, 4, 4, data},  {325, 3, 4, data + 16}};
  std::vector<uint8_t> b;
  auto put = [&b](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(uint8_t(v >> (8 * i)));
  };
  put('I', 1), put('I', 1), put(42, 2), put(ifd, 4), put(entries, 2);
  for (const Tag& t : tags) put(t.tag, 2), put(t.type, 2), put(t.count, 4), put(t.value, 4);
  put(0, 4);
  for (int i = 0; i < 4; ++i) put(data + 24, 4);        // TileOffsets
  for (uint16_t c : {512, 256, 512, 512}) put(c, 2);    // TileByteCounts
  b.resize(b.size() + 512, 0);                          // one tile of pixels
  return b;
}

TEST(TiffIo, ByteCountsThatLibtiffEstimatesDoNotStandInForTheFile) {
  // fuzz_tiff_import: a 2,289-byte file made import allocate a 9760x1072 page
  // and read 653,920 tiles from offset 0, because the byte counts libtiff
  // estimated summed to exactly the page's size (input kept as
  // fuzz/corpus/tiff_import/regress-estimated-byte-counts.tif).
  TempDir dir;
  const std::string path = dir.file("estimated.tif");
  const auto bytes = tiff_with_estimated_byte_counts(4096, 4096);
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  auto d = TiffDirectory::open(path);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  auto img = read_tiff_page(*d, 0);
  ASSERT_EQ(img.status().code(), StatusCode::kCorruption) << img.status().to_string();
  EXPECT_NE(img.status().message().find("estimated.tif: header says 4096x4096 pixels (33554432 bytes) "
                                        "uncompressed, the whole file is " +
                                        std::to_string(bytes.size()) + " bytes"),
            std::string::npos)
      << img.status().message();
}

TEST(TiffIo, TruncatedFileNamesTheStrip) {
  TempDir dir;
  const std::string path = dir.file("cut.tif");
  write_pages(path, {pattern(64, 64, 1), pattern(64, 64, 2)}, PageSpec{});
  auto d = TiffDirectory::open(path);
  ASSERT_TRUE(d.ok());
  // Cut into the second page's pixels (libtiff writes each page's data before its directory).
  std::filesystem::resize_file(path, d->pages[1].offset - 100);
  auto img = read_tiff_page(*d, 1);
  EXPECT_EQ(img.status().code(), StatusCode::kCorruption) << img.status().to_string();
  EXPECT_NE(img.status().message().find("cut.tif page 1"), std::string::npos) << img.status().message();
}

const char* kOme = R"(<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
 <Image ID="Image:0" Name="Pos0">
  <Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="64" SizeY="48" SizeC="2" SizeZ="3" SizeT="1"
          PhysicalSizeX="325" PhysicalSizeXUnit="nm" PhysicalSizeY="0.325">
   <Channel ID="Channel:0:0" Name="DAPI" Color="65535" ExcitationWavelength="405" EmissionWavelength="0.45" EmissionWavelengthUnit="µm"/>
   <Channel ID="Channel:0:1" Name="GFP" Color="-16776961"/>
   <TiffData IFD="0" PlaneCount="6"/>
   <Plane TheC="0" TheZ="0" TheT="0" PositionX="1.5" PositionXUnit="mm" PositionY="20" PositionZ="3"/>
   <Plane TheC="1" TheZ="2" TheT="0" PositionX="1500" PositionY="20"/>
  </Pixels>
 </Image>
 <Image ID="Image:1">
  <Pixels ID="Pixels:1" DimensionOrder="XYZCT" Type="uint16" SizeX="64" SizeY="48" SizeC="2" SizeZ="1" SizeT="2">
   <TiffData IFD="6" FirstC="1" PlaneCount="1"><UUID FileName="other.ome.tif">urn:uuid:1</UUID></TiffData>
   <TiffData IFD="6" FirstC="0" FirstT="0"/>
   <TiffData IFD="7" FirstT="1" PlaneCount="2"/>
  </Pixels>
 </Image>
</OME>)";

TEST(OmeXml, ImagesChannelsPlanesAndUnits) {
  auto m = parse_ome_xml(kOme, "a.ome.tif");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_EQ(m->images.size(), 2u);
  const OmeImage& a = m->images[0];
  EXPECT_EQ(a.size_c * a.size_z * a.size_t, 6);
  EXPECT_DOUBLE_EQ(*a.physical_size_x_um, 0.325);
  ASSERT_EQ(a.channels.size(), 2u);
  EXPECT_EQ(a.channels[0].name, "DAPI");
  EXPECT_EQ(rgb_to_hex(*a.channels[0].color), "#0000ff");  // RGBA 0x0000FFFF
  EXPECT_EQ(rgb_to_hex(*a.channels[1].color), "#ff0000");  // RGBA 0xFF0000FF
  EXPECT_DOUBLE_EQ(*a.channels[0].emission_nm, 450);
  EXPECT_DOUBLE_EQ(*a.planes[0].x_um, 1500);  // mm -> um
  EXPECT_DOUBLE_EQ(*a.planes[1].x_um, 1500);  // no unit ("reference frame"): um
  EXPECT_EQ(a.plane_index(1, 2, 0), 5);      // XYCZT: C fastest
  int c, z, t;
  a.plane_coords(3, &c, &z, &t);
  EXPECT_EQ((std::array{c, z, t}), (std::array{1, 1, 0}));

  auto refs = map_ome_planes(*m, "a.ome.tif");
  ASSERT_TRUE(refs.ok()) << refs.status().to_string();
  ASSERT_EQ(refs->size(), 10u);
  EXPECT_EQ((*refs)[5].ifd, 5);
  // Image 1, XYZCT: (c=0,t=0) on page 6 here, (c=1,t=0) on page 6 of other.ome.tif, t=1 on pages 7, 8.
  const OmePlaneRef& c1 = (*refs)[7];
  EXPECT_EQ((std::array{c1.image, c1.c, c1.t, c1.ifd}), (std::array{1, 1, 0, 6}));
  EXPECT_EQ(c1.file_name, "other.ome.tif");
  EXPECT_EQ((*refs)[9].ifd, 8);
}

TEST(OmeXml, BadInputIsNamed) {
  struct Case {
    std::string xml, expect;
  } cases[] = {
      {"<OME><Image", "OME-XML does not parse"},
      {"<NotOME/>", "root is not <OME>"},
      {"<OME></OME>", "describes no <Image>"},
      {R"(<OME><Image ID="I"><Pixels SizeX="1.5" SizeY="2" Type="uint16"/></Image></OME>)",
       "SizeX=\"1.5\" is not an integer"},
      {R"(<OME><Image ID="I"><Pixels SizeX="99999999" SizeY="2" Type="uint16"/></Image></OME>)", "SizeX=\"99999999\""},
      {R"(<OME><Image ID="I"><Pixels SizeX="2" SizeY="2" PhysicalSizeX="1" PhysicalSizeXUnit="furlong"/></Image></OME>)",
       "PhysicalSizeXUnit=\"furlong\""},
      {R"(<OME><Image ID="I"><Pixels SizeX="2" SizeY="2"><Plane TheC="0" PositionX="nan"/></Pixels></Image></OME>)",
       "PositionX=\"nan\" is not a finite number"},
  };
  for (const auto& k : cases) {
    auto m = parse_ome_xml(k.xml, "bad.ome.tif");
    ASSERT_FALSE(m.ok()) << k.xml;
    EXPECT_NE(m.status().message().find("bad.ome.tif"), std::string::npos) << m.status().message();
    EXPECT_NE(m.status().message().find(k.expect), std::string::npos) << m.status().message();
  }
  // A plane no TiffData covers.
  auto m = parse_ome_xml(R"(<OME><Image ID="I"><Pixels SizeX="2" SizeY="2" SizeZ="3" Type="uint16">
      <TiffData IFD="0" PlaneCount="2"/></Pixels></Image></OME>)", "gap.ome.tif");
  ASSERT_TRUE(m.ok());
  auto refs = map_ome_planes(*m, "gap.ome.tif");
  ASSERT_FALSE(refs.ok());
  EXPECT_NE(refs.status().message().find("plane c=0 z=2 t=0 has no page"), std::string::npos) << refs.status().message();
}

}  // namespace
}  // namespace vslide

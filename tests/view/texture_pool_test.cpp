// The texture pool's glTexStorage3D is checked (issue 16, unchecked C calls):
// a chunk that gets no storage is counted, makes the frame's upload fail
// with a GL error instead of drawing from nothing, and is dropped at release
// rather than kept for later frames.
#include <gtest/gtest.h>

#include <vector>

#include "gl_texture_pool.h"
#include "vslide/view/gl_context.h"

namespace vslide::view {
namespace {

TEST(TexturePool, StorageThatCannotBeAllocatedIsReportedAndDropped) {
  auto ctx = GlContext::create();
  ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
  GLint max_size = 0;
  glGetIntegerv(GL_MAX_TEXTURE_SIZE, &max_size);
  ASSERT_GT(max_size, 0);
  TexturePool pool(size_t(64) << 20);
  // A good chunk first: storage, no error, kept empty after release.
  const TexSlot good = pool.allocate(GL_R16UI, 64, 32, 4);
  EXPECT_EQ(glGetError(), GLenum(GL_NO_ERROR));
  EXPECT_EQ(pool.storage_failures(), 0u);
  std::vector<uint16_t> px(64 * 32, 7);
  pool.upload(good, px.data());
  EXPECT_EQ(glGetError(), GLenum(GL_NO_ERROR));
  // Wider than any texture the driver allows: glTexStorage3D fails.
  const TexSlot bad = pool.allocate(GL_R16UI, max_size * 2, 1, 4);
  EXPECT_EQ(pool.storage_failures(), 1u);
  EXPECT_EQ(pool.chunk_count(), 2u);
  std::vector<uint16_t> row(size_t(max_size) * 2, 7);
  pool.upload(bad, row.data());
  EXPECT_NE(glGetError(), GLenum(GL_NO_ERROR)) << "an upload into a chunk without storage must raise a GL error";
  // The chunk without storage hands out no second layer and goes at release.
  const TexSlot bad2 = pool.allocate(GL_R16UI, max_size * 2, 1, 4);
  EXPECT_NE(bad2.chunk, bad.chunk);
  (void)glGetError();
  pool.release(bad);
  pool.release(bad2);
  pool.release(good);
  pool.commit_releases();
  EXPECT_EQ(pool.chunk_count(), 1u) << "the good chunk is kept empty, the two without storage are deleted";
  pool.clear();
}

}  // namespace
}  // namespace vslide::view

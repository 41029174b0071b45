#include "vslide/view/gl_renderer.h"

#include <epoxy/gl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "gl_texture_pool.h"
#include "gl_util.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/frame_partition.h"
#include "vslide_view_shaders.h"

namespace vslide::view {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr int kChannelsPerPass = 4;
constexpr size_t kMaxUploadRun = 64;  // layers per glTexSubImage3D

// The texture format holding a group of `count` channels (one texel per pixel).
GLenum group_format(int count) { return count == 1 ? GL_R16UI : count == 2 ? GL_RG16UI : GL_RGBA16UI; }
int format_components(GLenum internal) { return internal == GL_RGBA16UI ? 4 : internal == GL_RG16UI ? 2 : 1; }

// Copies up to four planes into texels of `comps` components; absent planes read 0.
void pack_planes(const PlaneRef* planes, int count, int comps, size_t pixels, uint16_t* out) {
  const uint16_t* src[4] = {nullptr, nullptr, nullptr, nullptr};
  for (int i = 0; i < count; ++i) src[i] = planes[i].image ? planes[i].image->data() : nullptr;
  if (comps == 1) {
    if (src[0]) {
      std::memcpy(out, src[0], pixels * sizeof(uint16_t));
    } else {
      std::memset(out, 0, pixels * sizeof(uint16_t));
    }
    return;
  }
  for (int c = 0; c < comps; ++c) {
    const uint16_t* p = src[c];
    if (p) {
      for (size_t i = 0; i < pixels; ++i) out[i * size_t(comps) + size_t(c)] = p[i];
    } else {
      for (size_t i = 0; i < pixels; ++i) out[i * size_t(comps) + size_t(c)] = 0;
    }
  }
}

// Inserts #define lines after a shader's #version line.
std::string with_defines(const char* source, const char* defines) {
  std::string s = source;
  const size_t v = s.find("#version");
  const size_t eol = v == std::string::npos ? 0 : s.find('\n', v) + 1;
  s.insert(eol, defines);
  return s;
}

}  // namespace

// One instance of tile.vert (std430 layout): a rectangle of screen pixels
// that one tile owns.
struct TileInstance {
  float rect[4];
  float xform[4];
  int32_t info[4];  // width, height, layer, mask of channels present
};

// The texture cache's key: the planes packed in one texture (a group of up
// to four channels of one tile, or one label tile).
struct TexKey {
  std::array<TileKey, kChannelsPerPass> planes{};
  int32_t count = 0;
  bool operator==(const TexKey&) const = default;
};
struct TexKeyHash {
  size_t operator()(const TexKey& k) const {
    size_t h = size_t(k.count);
    for (int i = 0; i < k.count; ++i) h = h * 0x9E3779B97F4A7C15ull ^ TileKeyHash {}(k.planes[size_t(i)]);
    return h;
  }
};

struct GlRenderer::Impl {
  explicit Impl(size_t cache_bytes)
      : pool(cache_bytes / 4),
        textures(cache_bytes, [this](const TexKey&, CachedTexture& t) { pool.release(t.slot); }) {}

  // A texture remembers the pixels it was made from, so a key reused for
  // other pixels (another slide, a refreshed tile) is uploaded again.
  struct CachedTexture {
    TexSlot slot;
    std::array<std::weak_ptr<const void>, kChannelsPerPass> sources;
  };
  // The channel shader, with or without gamma, and its uniforms.
  struct TileProgram {
    Program p;
    GLint viewport = -1, height = -1, first = -1, scale = -1, offset = -1, gamma = -1, mix = -1;
    GLint ff_on = -1, dark = -1;
    GLint shift_on = -1, shift_scale = -1, shift_dx = -1, shift_dy = -1, shift_half = -1;
  };
  // A displayed channel's flat-field gain grid (R32F), uploaded when the
  // plan's FlatField changes; `src` keeps the one it was made from.
  struct GainTexture {
    std::shared_ptr<const FlatField> src;
    GLuint tex = 0;
  };
  std::vector<GainTexture> gains;  // by displayed channel position
  // A group's texture to upload after the frame's textures are allocated.
  struct DeferredUpload {
    TexSlot slot;
    const PlaneRef* planes;
    int count;
    size_t pixels;
  };
  struct Batch {
    int chunk;  // -1: placeholders
    GLint first;
    GLsizei count;
  };

  TileProgram tile, tile_gamma;
  Program placeholder, resolve, label, outline;
  GLuint vao = 0;
  GLuint instances = 0;  // SSBO of TileInstance
  size_t instance_capacity = 0;
  GLuint fbo = 0, color = 0;
  GLuint accum_fbo = 0, accum = 0;
  int fb_width = 0, fb_height = 0, accum_width = 0, accum_height = 0;
  TexturePool pool;
  LruCache<TexKey, CachedTexture, TexKeyHash> textures;
  // Per-frame scratch, kept so a warm frame allocates nothing.
  std::vector<PixelRect> covered;
  std::vector<OwnedRect> owned;
  std::vector<uint8_t> owns;
  std::vector<TexSlot> slots;
  std::vector<std::array<int, 3>> sizes;  // width, height, tiles
  std::vector<DeferredUpload> deferred;
  std::vector<std::pair<int, TileInstance>> sorted;  // chunk, instance
  std::vector<TileInstance> instance_data;
  std::vector<Batch> batches;
  std::vector<size_t> group_batches;
  std::vector<uint8_t> row;  // read-back scratch

  Status link_tile(TileProgram* tp, const char* defines, const char* name) {
    const std::string frag = with_defines(shaders::k_tile_frag, defines);
    VSLIDE_ASSIGN_OR_RETURN(tp->p.id, link_program(shaders::k_tile_vert, frag.c_str(), name));
    tp->viewport = tp->p.loc("u_viewport");
    tp->height = tp->p.loc("u_height");
    tp->first = tp->p.loc("u_first");
    tp->scale = tp->p.loc("u_scale");
    tp->offset = tp->p.loc("u_offset");
    tp->gamma = tp->p.loc("u_gamma");
    tp->mix = tp->p.loc("u_mix");
    tp->ff_on = tp->p.loc("u_ff_on");
    tp->dark = tp->p.loc("u_dark");
    tp->shift_on = tp->p.loc("u_shift_on");
    tp->shift_scale = tp->p.loc("u_shift_scale");
    tp->shift_dx = tp->p.loc("u_shift_dx");
    tp->shift_dy = tp->p.loc("u_shift_dy");
    tp->shift_half = tp->p.loc("u_shift_half");
    glUseProgram(tp->p.id);
    glUniform1i(tp->p.loc("u_tex"), 0);
    for (int i = 0; i < kChannelsPerPass; ++i)  // gain grids on texture units 1..4
      glUniform1i(tp->p.loc(("u_gain" + std::to_string(i)).c_str()), 1 + i);
    return Status();
  }
};

Result<std::unique_ptr<GlRenderer>> GlRenderer::create(GlContext* context, size_t texture_cache_bytes) {
  std::unique_ptr<GlRenderer> r(new GlRenderer());
  r->context_ = context;
  r->impl_ = std::make_unique<Impl>(texture_cache_bytes);
  Impl& m = *r->impl_;
  namespace sh = shaders;
  VSLIDE_RETURN_IF_ERROR(m.link_tile(&m.tile, "", "tile"));
  VSLIDE_RETURN_IF_ERROR(m.link_tile(&m.tile_gamma, "#define APPLY_GAMMA 1\n", "tile (gamma)"));
  VSLIDE_ASSIGN_OR_RETURN(m.placeholder.id,
                          link_program(sh::k_tile_vert, sh::k_placeholder_frag, "placeholder"));
  VSLIDE_ASSIGN_OR_RETURN(m.resolve.id, link_program(sh::k_quad_vert, sh::k_resolve_frag, "resolve"));
  VSLIDE_ASSIGN_OR_RETURN(m.label.id, link_program(sh::k_quad_vert, sh::k_label_frag, "label"));
  VSLIDE_ASSIGN_OR_RETURN(m.outline.id, link_program(sh::k_quad_vert, sh::k_outline_frag, "outline"));
  glGenVertexArrays(1, &m.vao);
  glBindVertexArray(m.vao);
  glGenBuffers(1, &m.instances);
  if (GLenum e = glGetError(); e != GL_NO_ERROR) {
    return Status::internal("GL: set-up failed with error " + std::to_string(e));
  }
  // Drivers compile shader variants at the first draw (hundreds of ms on
  // llvmpipe), one per texture format and program: pay it here, where
  // callers overlap it with tile loading. 3x3 textures, not 1x1: software
  // rasterisers key variants on whether sizes are powers of two, and tiles
  // rarely are.
  auto img = std::make_shared<Image16>(3, 3);
  for (int channels : {1, 2, 4}) {
    for (float gamma : {1.0f, 0.5f}) {
      FramePlan warmup;
      warmup.viewport = Viewport{2, 2, 1, 8, 8, 1};
      TileDraw d;
      d.width = d.height = 3;
      for (int c = 0; c < channels; ++c) {
        warmup.display.channels.push_back(ChannelDisplay{c, Rgb{}, 0, 1, gamma, true});
        d.planes.push_back(PlaneRef{TileKey{-2, -2, c, 0, 0, 0}, img});
      }
      warmup.tiles.push_back(d);
      VSLIDE_RETURN_IF_ERROR(r->render(warmup).status());
    }
  }
  r->clear_textures();
  return r;
}

GlRenderer::~GlRenderer() {
  if (!impl_) return;
  Impl& m = *impl_;
  m.textures.clear();
  m.pool.clear();
  for (GLuint p : {m.tile.p.id, m.tile_gamma.p.id, m.placeholder.id, m.resolve.id, m.label.id, m.outline.id})
    glDeleteProgram(p);
  glDeleteBuffers(1, &m.instances);
  if (m.fbo) glDeleteFramebuffers(1, &m.fbo);
  if (m.color) glDeleteTextures(1, &m.color);
  if (m.accum_fbo) glDeleteFramebuffers(1, &m.accum_fbo);
  if (m.accum) glDeleteTextures(1, &m.accum);
  glDeleteVertexArrays(1, &m.vao);
  for (const auto& g : m.gains)
    if (g.tex) glDeleteTextures(1, &g.tex);
}

CacheStats GlRenderer::texture_cache_stats() const { return impl_->textures.stats(); }

void GlRenderer::clear_textures() {
  impl_->textures.clear();
  impl_->pool.commit_releases();
}

Status GlRenderer::draw(const FramePlan& plan) {
  return draw_rows(plan, 0, plan.viewport.height_px, true);
}

Status GlRenderer::draw_rows(const FramePlan& plan, int y0, int y1, bool upload) {
  VSLIDE_RETURN_IF_ERROR(validate_plan(plan));
  if (y0 < 0 || y1 > plan.viewport.height_px || y0 >= y1) {
    return Status::invalid_argument("GL: rows [" + std::to_string(y0) + ", " + std::to_string(y1) +
                                    ") are not inside a frame of " + std::to_string(plan.viewport.height_px) +
                                    " rows");
  }
  Impl& m = *impl_;
  stats_ = GlFrameStats{};
  const auto t_start = Clock::now();
  double upload_ms = 0;
  const int vw = plan.viewport.width_px, vh = plan.viewport.height_px;
  const int n = int(plan.display.channels.size());
  const int groups = (n + kChannelsPerPass - 1) / kChannelsPerPass;
  const bool multipass = groups > 1;
  const size_t tiles = plan.tiles.size();

  if (m.fb_width != vw || m.fb_height != vh) {
    VSLIDE_RETURN_IF_ERROR(make_target(&m.fbo, &m.color, GL_RGBA8, vw, vh, "frame"));
    m.fb_width = vw;
    m.fb_height = vh;
  }
  if (multipass && (m.accum_width != vw || m.accum_height != vh)) {
    VSLIDE_RETURN_IF_ERROR(make_target(&m.accum_fbo, &m.accum, GL_RGBA32F, vw, vh, "accumulation"));
    m.accum_width = vw;
    m.accum_height = vh;
  }

  // Which tile owns which pixels: each pixel is shaded once, by the last
  // draw covering it (with colour offsets: holding all its channels there,
  // partition_plan), as the CPU reference draws it.
  const auto t_partition = Clock::now();
  partition_plan(plan, &m.covered, &m.owned);
  m.owns.assign(tiles, 0);
  for (const OwnedRect& o : m.owned) m.owns[o.draw] = 1;

  // The texture cache's key of a tile's channel group g.
  auto group_key = [&](const TileDraw& d, int g, std::array<std::shared_ptr<const void>, 4>* sources) {
    const int c0 = g * kChannelsPerPass, count = std::min(kChannelsPerPass, n - c0);
    TexKey key;
    key.count = count;
    for (int i = 0; i < count; ++i) {
      const PlaneRef& p = d.planes[size_t(c0 + i)];
      if (sources) (*sources)[size_t(i)] = p.image;
      // An absent plane still names its tile, so an all-absent group
      // never shares a texture with another tile.
      key.planes[size_t(i)] = p.image ? p.key : TileKey{d.row,
                                                        d.col,
                                                        plan.display.channels[size_t(c0 + i)].channel,
                                                        std::numeric_limits<int32_t>::min(),
                                                        0,
                                                        d.level};
    }
    return key;
  };
  // The upload budget: a tile whose textures would take this frame's uploads
  // past it is left out (at least one tile uploads per frame), and the
  // pixels it would own go to what lies under it in the plan (a coarser
  // layer, the overview), as while tiles load. The caller draws again for
  // the rest (GlFrameStats::deferred_tiles).
  // Without uploads every tile whose textures are missing is left out (the
  // rows drawn after a draw of the same plan show what it showed).
  if (upload_budget_ > 0 || !upload) {
    size_t planned = 0;
    for (size_t k = 0; k < tiles; ++k) {
      const TileDraw& d = plan.tiles[k];
      if (!m.owns[k] || d.placeholder) continue;
      size_t need = 0;
      for (int g = 0; g < groups; ++g) {
        const int comps = format_components(group_format(std::min(kChannelsPerPass, n - g * kChannelsPerPass)));
        if (!m.textures.contains(group_key(d, g, nullptr)))
          need += size_t(d.width) * size_t(d.height) * size_t(comps) * sizeof(uint16_t);
      }
      if (need == 0) continue;
      if (!upload || (planned > 0 && planned + need > upload_budget_)) {
        m.covered[k] = PixelRect{};
        ++stats_.deferred_tiles;
      } else {
        planned += need;
      }
    }
    if (stats_.deferred_tiles) {
      partition_by_owner(m.covered, &m.owned);
      m.owns.assign(tiles, 0);
      for (const OwnedRect& o : m.owned) m.owns[o.draw] = 1;
    }
  }
  stats_.rects = m.owned.size();
  stats_.partition_ms = ms_since(t_partition);

  // The texture array layer holding one group of a tile's channels (or a
  // label tile), allocated on a miss; tile groups are uploaded afterwards.
  auto texture_for = [&](const TexKey& key, const std::array<std::shared_ptr<const void>, 4>& sources,
                         GLenum internal, int w, int h, int expected, size_t* bytes_out) -> TexSlot {
    if (auto t = m.textures.get(key)) {
      bool same = true;
      for (int i = 0; i < key.count; ++i) same = same && t->sources[size_t(i)].lock() == sources[size_t(i)];
      if (same) return t->slot;
    }
    const TexSlot slot = m.pool.allocate(internal, w, h, expected);
    const size_t bytes = size_t(w) * size_t(h) * TexturePool::texel_bytes(internal);
    Impl::CachedTexture ct{slot, {}};
    for (int i = 0; i < key.count; ++i) ct.sources[size_t(i)] = sources[size_t(i)];
    if (!m.textures.put(key, std::move(ct), bytes)) m.pool.release(slot);  // larger than the cache
    ++stats_.textures_uploaded;
    stats_.bytes_uploaded += bytes;
    *bytes_out = bytes;
    return slot;
  };

  // Allocate the textures of every tile that owns pixels (a tile hidden
  // under later ones needs none), then upload them in runs of layers: a
  // software rasteriser would otherwise finish queued draws before each
  // upload into an array they sample, and per-call overhead, not
  // bandwidth, is what uploads of small tiles cost.
  const auto t_upload = Clock::now();
  m.slots.assign(tiles * size_t(groups), TexSlot{});
  m.deferred.clear();
  m.sizes.clear();  // how many drawn tiles have each size: the pool's hint
  for (size_t k = 0; k < tiles; ++k) {
    const TileDraw& d = plan.tiles[k];
    if (!m.owns[k] || d.placeholder) continue;
    auto it = std::find_if(m.sizes.begin(), m.sizes.end(),
                           [&](const auto& e) { return e[0] == d.width && e[1] == d.height; });
    if (it == m.sizes.end()) {
      m.sizes.push_back({d.width, d.height, 1});
    } else {
      ++(*it)[2];
    }
  }
  auto same_size = [&](const TileDraw& d) {
    for (const auto& e : m.sizes) {
      if (e[0] == d.width && e[1] == d.height) return e[2];
    }
    return 0;
  };
  for (size_t k = 0; k < tiles; ++k) {
    const TileDraw& d = plan.tiles[k];
    if (!m.owns[k] || d.placeholder) continue;
    for (int g = 0; g < groups; ++g) {
      const int c0 = g * kChannelsPerPass, count = std::min(kChannelsPerPass, n - c0);
      std::array<std::shared_ptr<const void>, 4> sources;
      const TexKey key = group_key(d, g, &sources);
      size_t bytes = 0;
      const TexSlot slot =
          texture_for(key, sources, group_format(count), d.width, d.height, same_size(d), &bytes);
      m.slots[k * size_t(groups) + size_t(g)] = slot;
      if (bytes) {
        m.deferred.push_back(
            Impl::DeferredUpload{slot, &d.planes[size_t(c0)], count, size_t(d.width) * size_t(d.height)});
        for (int i = 0; i < count; ++i) stats_.planes_uploaded += d.planes[size_t(c0 + i)].image ? 1 : 0;
      }
    }
  }
  std::sort(m.deferred.begin(), m.deferred.end(),
            [](const Impl::DeferredUpload& a, const Impl::DeferredUpload& b) {
              return std::tie(a.slot.chunk, a.slot.layer) < std::tie(b.slot.chunk, b.slot.layer);
            });
  for (size_t i = 0; i < m.deferred.size();) {
    size_t j = i + 1;
    while (j < m.deferred.size() && m.deferred[j].slot.chunk == m.deferred[i].slot.chunk &&
           m.deferred[j].slot.layer == m.deferred[j - 1].slot.layer + 1 && (j - i) < kMaxUploadRun) {
      ++j;
    }
    const int comps = format_components(group_format(m.deferred[i].count));
    const size_t layer_values = m.deferred[i].pixels * size_t(comps);
    // Packed straight into the pool's mapped pixel buffer: the GL copies
    // from there asynchronously (a DMA on a GPU), not from our memory.
    auto* staging = static_cast<uint16_t*>(m.pool.begin_upload(layer_values * (j - i) * sizeof(uint16_t)));
    for (size_t k = i; k < j; ++k) {
      const Impl::DeferredUpload& u = m.deferred[k];
      pack_planes(u.planes, u.count, comps, u.pixels, staging + (k - i) * layer_values);
    }
    m.pool.end_upload(m.deferred[i].slot.chunk, m.deferred[i].slot.layer, int(j - i));
    ++stats_.upload_calls;
    i = j;
  }
  upload_ms = ms_since(t_upload);

  // Instances: one per owned rectangle and channel group, grouped by the
  // texture array they sample (any order will do: the rectangles are
  // disjoint). Placeholders are drawn with the first group only.
  m.instance_data.clear();
  m.batches.clear();
  std::vector<size_t>& group_batches = m.group_batches;  // first batch of each group, then placeholders
  group_batches.assign(size_t(groups) + 1, 0);
  for (int g = 0; g <= groups; ++g) {
    const bool placeholders = g == groups;
    group_batches[size_t(g)] = m.batches.size();
    m.sorted.clear();
    for (const OwnedRect& o : m.owned) {
      const TileDraw& d = plan.tiles[o.draw];
      if (d.placeholder != placeholders) continue;
      const DrawTransform t = draw_transform(plan.viewport, d.x_um, d.y_um, d.um_per_texel);
      TileInstance inst{};
      inst.rect[0] = float(o.rect.x0);
      inst.rect[1] = float(o.rect.y0);
      inst.rect[2] = float(o.rect.x1);
      inst.rect[3] = float(o.rect.y1);
      inst.xform[0] = t.origin_x;
      inst.xform[1] = t.origin_y;
      inst.xform[2] = t.inv_scale;
      // 2^-level: colour offsets (raw pixels) to texels; 0 on the overview,
      // which takes neither the flat-field nor the colour offsets.
      inst.xform[3] = d.level >= 0 ? std::ldexp(1.0f, -d.level) : 0.0f;
      inst.info[0] = d.width;
      inst.info[1] = d.height;
      int chunk = -1;
      if (!placeholders) {
        const TexSlot slot = m.slots[size_t(o.draw) * size_t(groups) + size_t(g)];
        chunk = slot.chunk;
        inst.info[2] = slot.layer;
        const int c0 = g * kChannelsPerPass;
        for (int i = 0; i < std::min(kChannelsPerPass, n - c0); ++i)
          inst.info[3] |= d.planes[size_t(c0 + i)].image ? (1 << i) : 0;
      }
      m.sorted.emplace_back(chunk, inst);
    }
    std::stable_sort(m.sorted.begin(), m.sorted.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < m.sorted.size(); ++i) {
      if (i == 0 || m.sorted[i].first != m.sorted[i - 1].first) {
        m.batches.push_back(Impl::Batch{m.sorted[i].first, GLint(m.instance_data.size()), 0});
      }
      m.instance_data.push_back(m.sorted[i].second);
      ++m.batches.back().count;
    }
  }
  group_batches.push_back(m.batches.size());
  glBindBuffer(GL_SHADER_STORAGE_BUFFER, m.instances);
  const size_t instance_bytes = m.instance_data.size() * sizeof(TileInstance);
  if (instance_bytes > m.instance_capacity) {
    m.instance_capacity = std::max(instance_bytes, 2 * m.instance_capacity);
    glBufferData(GL_SHADER_STORAGE_BUFFER, GLsizeiptr(m.instance_capacity), nullptr, GL_DYNAMIC_DRAW);
  }
  if (instance_bytes)
    glBufferSubData(GL_SHADER_STORAGE_BUFFER, 0, GLsizeiptr(instance_bytes), m.instance_data.data());
  glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 0, m.instances);

  glBindVertexArray(m.vao);
  glViewport(0, 0, vw, vh);
  glDisable(GL_DEPTH_TEST);
  glDisable(GL_BLEND);
  glClearColor(0, 0, 0, 1);
  // Only the rows asked for: clears and draws alike are scissored (GL's
  // rows run bottom-up).
  if (y0 > 0 || y1 < vh) {
    glEnable(GL_SCISSOR_TEST);
    glScissor(0, vh - y1, vw, y1 - y0);
  } else {
    glDisable(GL_SCISSOR_TEST);
  }
  glBindFramebuffer(GL_FRAMEBUFFER, m.fbo);
  glClear(GL_COLOR_BUFFER_BIT);
  if (multipass) {
    glBindFramebuffer(GL_FRAMEBUFFER, m.accum_fbo);
    glClear(GL_COLOR_BUFFER_BIT);
  }
  glActiveTexture(GL_TEXTURE0);
  for (int g = 0; g < groups; ++g) {
    const int c0 = g * kChannelsPerPass;
    float scale[4] = {0, 0, 0, 0}, offset[4] = {0, 0, 0, 0}, gamma[4] = {1, 1, 1, 1}, mix[12] = {0};
    bool any_gamma = false;
    for (int i = 0; i < kChannelsPerPass && c0 + i < n; ++i) {
      const ChannelDisplay& cd = plan.display.channels[size_t(c0 + i)];
      scale[i] = 1.0f / (cd.high - cd.low);
      offset[i] = -cd.low / (cd.high - cd.low);
      gamma[i] = cd.gamma;
      any_gamma = any_gamma || cd.gamma != 1.0f;
      const float on = cd.enabled ? 1.0f : 0.0f;
      mix[i * 3 + 0] = cd.color.r * on;
      mix[i * 3 + 1] = cd.color.g * on;
      mix[i * 3 + 2] = cd.color.b * on;
    }
    const Impl::TileProgram& tp = any_gamma ? m.tile_gamma : m.tile;
    glUseProgram(tp.p.id);

    glUniform2f(tp.viewport, float(vw), float(vh));
    glUniform1f(tp.height, float(vh));
    glUniform4fv(tp.scale, 1, scale);
    glUniform4fv(tp.offset, 1, offset);
    glUniform4fv(tp.gamma, 1, gamma);
    glUniformMatrix4x3fv(tp.mix, 1, GL_FALSE, mix);
    float ff_on[4] = {0, 0, 0, 0}, dark[4] = {0, 0, 0, 0};
    for (int i = 0; i < kChannelsPerPass && c0 + i < n; ++i) {
      const size_t c = size_t(c0 + i);
      const auto& ff = c < plan.flatfields.size() ? plan.flatfields[c] : nullptr;
      if (!ff) continue;
      if (m.gains.size() <= c) m.gains.resize(c + 1);
      Impl::GainTexture& gt = m.gains[c];
      if (gt.src != ff) {
        if (!gt.tex) glGenTextures(1, &gt.tex);
        glActiveTexture(GLenum(GL_TEXTURE1 + i));
        glBindTexture(GL_TEXTURE_2D, gt.tex);
        glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
        glTexImage2D(GL_TEXTURE_2D, 0, GL_R32F, ff->gain_width, ff->gain_height, 0, GL_RED, GL_FLOAT,
                     ff->gain.data());
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        if (GLenum e = glGetError(); e != GL_NO_ERROR)
          return Status::internal("GL: flat-field of channel " + std::to_string(ff->channel) + " (" +
                                  std::to_string(ff->gain_width) + "x" + std::to_string(ff->gain_height) +
                                  "): upload failed with error " + std::to_string(e));
        gt.src = ff;
      }
      glActiveTexture(GLenum(GL_TEXTURE1 + i));
      glBindTexture(GL_TEXTURE_2D, gt.tex);
      ff_on[i] = 1;
      dark[i] = ff->dark;
    }
    glActiveTexture(GL_TEXTURE0);
    glUniform4fv(tp.ff_on, 1, ff_on);
    glUniform4fv(tp.dark, 1, dark);
    float sh_scale[4] = {1, 1, 1, 1}, sh_dx[4] = {0, 0, 0, 0}, sh_dy[4] = {0, 0, 0, 0}, sh_half[4] = {0, 0, 0, 0};
    bool shift_on = false;
    for (int i = 0; i < kChannelsPerPass && c0 + i < n; ++i) {
      if (size_t(c0 + i) >= plan.channel_offsets.size()) break;
      const ChannelShift cs = channel_shift(plan.channel_offsets[size_t(c0 + i)]);
      sh_scale[i] = cs.scale;
      sh_dx[i] = cs.dx;
      sh_dy[i] = cs.dy;
      sh_half[i] = cs.half;
      shift_on = shift_on || !cs.identity();
    }
    glUniform1f(tp.shift_on, shift_on ? 1.0f : 0.0f);
    glUniform4fv(tp.shift_scale, 1, sh_scale);
    glUniform4fv(tp.shift_dx, 1, sh_dx);
    glUniform4fv(tp.shift_dy, 1, sh_dy);
    glUniform4fv(tp.shift_half, 1, sh_half);
    if (g == 0) {
      glDisable(GL_BLEND);
    } else {
      glEnable(GL_BLEND);
      glBlendFunc(GL_ONE, GL_ONE);
    }
    for (size_t b = group_batches[size_t(g)]; b < group_batches[size_t(g) + 1]; ++b) {
      const Impl::Batch& batch = m.batches[b];
      glBindTexture(GL_TEXTURE_2D_ARRAY, m.pool.texture(batch.chunk));
      glUniform1i(tp.first, batch.first);
      glDrawArraysInstanced(GL_TRIANGLE_STRIP, 0, 4, batch.count);
      ++stats_.draw_calls;
    }
    if (g == 0 && group_batches[size_t(groups)] < group_batches[size_t(groups) + 1]) {
      const Program& pp = m.placeholder;
      glUseProgram(pp.id);
      glUniform2f(pp.loc("u_viewport"), float(vw), float(vh));
      glUniform1f(pp.loc("u_height"), float(vh));
      glUniform3f(pp.loc("u_color"), plan.style.placeholder_color.r, plan.style.placeholder_color.g,
                  plan.style.placeholder_color.b);
      const Impl::Batch& batch = m.batches[group_batches[size_t(groups)]];
      glUniform1i(pp.loc("u_first"), batch.first);
      glDrawArraysInstanced(GL_TRIANGLE_STRIP, 0, 4, batch.count);
      ++stats_.draw_calls;
    }
  }
  glDisable(GL_BLEND);

  if (multipass) {
    glBindFramebuffer(GL_FRAMEBUFFER, m.fbo);
    glUseProgram(m.resolve.id);
    glUniform2f(m.resolve.loc("u_viewport"), float(vw), float(vh));
    glUniform4f(m.resolve.loc("u_rect"), 0, 0, float(vw), float(vh));
    glUniform1i(m.resolve.loc("u_accum"), 0);
    glBindTexture(GL_TEXTURE_2D, m.accum);
    glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
    ++stats_.draw_calls;
  }

  if (!plan.labels.empty()) {
    const Program& lp = m.label;
    glUseProgram(lp.id);
    glEnable(GL_BLEND);
    glBlendFuncSeparate(GL_SRC_ALPHA, GL_ONE_MINUS_SRC_ALPHA, GL_ZERO, GL_ONE);
    glUniform2f(lp.loc("u_viewport"), float(vw), float(vh));
    glUniform1f(lp.loc("u_height"), float(vh));
    glUniform3f(lp.loc("u_color"), plan.style.label_color.r, plan.style.label_color.g,
                plan.style.label_color.b);
    glUniform1f(lp.loc("u_fill_alpha"), plan.style.label_fill_alpha);
    glUniform1i(lp.loc("u_labels"), 0);
    const GLint r_layer = lp.loc("u_layer");
    const GLint r_rect = lp.loc("u_rect"), r_origin = lp.loc("u_origin"), r_inv = lp.loc("u_inv_scale"),
                r_size = lp.loc("u_size");
    for (const LabelDraw& l : plan.labels) {
      const LabelTile& lt = *l.labels;
      const DrawTransform t = draw_transform(plan.viewport, l.x_um, l.y_um, l.um_per_texel);
      TexKey key;
      key.count = 1;
      key.planes[0] = l.key;
      size_t bytes = 0;
      const auto t0 = Clock::now();
      const TexSlot slot =
          texture_for(key, {l.labels, nullptr, nullptr, nullptr}, GL_R32UI, lt.width, lt.height, 0, &bytes);
      if (bytes) m.pool.upload(slot, lt.labels.data());
      upload_ms += ms_since(t0);
      glBindTexture(GL_TEXTURE_2D_ARRAY, m.pool.texture(slot.chunk));
      glUniform1i(r_layer, slot.layer);
      set_quad(r_rect, t.origin_x, t.origin_y, t.origin_x + float(lt.width) * t.scale,
               t.origin_y + float(lt.height) * t.scale, vw, vh);
      glUniform2f(r_origin, t.origin_x, t.origin_y);
      glUniform1f(r_inv, t.inv_scale);
      glUniform2i(r_size, lt.width, lt.height);
      glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
      ++stats_.draw_calls;
    }
    glDisable(GL_BLEND);
  }

  if (!plan.outlines.empty()) {
    const Program& op = m.outline;
    glUseProgram(op.id);
    glUniform2f(op.loc("u_viewport"), float(vw), float(vh));
    glUniform1f(op.loc("u_height"), float(vh));
    glUniform1f(op.loc("u_width"), plan.style.outline_width_px);
    glUniform3f(op.loc("u_color"), plan.style.outline_color.r, plan.style.outline_color.g,
                plan.style.outline_color.b);
    const GLint o_rect = op.loc("u_rect"), o_box = op.loc("u_box");
    for (const RectUm& r : plan.outlines) {
      const auto q = screen_rect(plan.viewport, r);
      set_quad(o_rect, q[0], q[1], q[2], q[3], vw, vh);
      glUniform4f(o_box, q[0], q[1], q[2], q[3]);
      glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
      ++stats_.draw_calls;
    }
  }
  glDisable(GL_SCISSOR_TEST);
  glFinish();
  m.pool.commit_releases();
  stats_.upload_ms = upload_ms;
  stats_.pixel_buffers = m.pool.uses_pixel_buffers();
  stats_.draw_ms = ms_since(t_start) - upload_ms;
  if (GLenum e = glGetError(); e != GL_NO_ERROR) {
    return Status::internal("GL: drawing the frame failed with error 0x" + std::to_string(e));
  }
  return Status();
}

Result<RgbImage> GlRenderer::read_back() {
  Impl& m = *impl_;
  if (m.fbo == 0) return Status::failed_precondition("GL: no frame drawn yet");
  const auto t0 = Clock::now();
  auto out = read_frame_rgb(m.fbo, m.fb_width, m.fb_height, &m.row);
  stats_.readback_ms = ms_since(t0);
  return out;
}

Result<RgbImage> GlRenderer::render(const FramePlan& plan) {
  VSLIDE_RETURN_IF_ERROR(draw(plan));
  return read_back();
}

}  // namespace vslide::view

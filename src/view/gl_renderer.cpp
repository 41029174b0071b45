#include "vslide/view/gl_renderer.h"

#include <epoxy/gl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "gl_texture_pool.h"
#include "gl_util.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide_view_shaders.h"

namespace vslide::view {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr int kChannelsPerPass = 4;
constexpr size_t kMaxUploadRun = 64;  // layers per glTexSubImage3D

}  // namespace

// One instance of tile.vert/tile.frag (std430 layout).
struct TileInstance {
  float rect[4];
  float xform[4];
  int32_t size[4];
  int32_t layers[4];
};

struct GlRenderer::Impl {
  explicit Impl(size_t cache_bytes)
      : textures(cache_bytes, [this](const TileKey&, CachedTexture& t) { pool.release(t.slot); }) {}

  // A texture remembers the pixels it was made from, so a key reused for
  // other pixels (another slide, a refreshed tile) is uploaded again.
  struct CachedTexture {
    TexSlot slot;
    std::weak_ptr<const void> source;
  };

  Program tile, resolve, label, outline;
  GLuint vao = 0;
  GLuint zero_array = 0;  // 1x1x1 R16UI array for channel slots with no plane
  GLuint instances = 0;   // SSBO of TileInstance
  GLuint fbo = 0, color = 0;
  GLuint accum_fbo = 0, accum = 0;
  int fb_width = 0, fb_height = 0, accum_width = 0, accum_height = 0;
  TexturePool pool;
  LruCache<TileKey, CachedTexture, TileKeyHash> textures;
};

Result<std::unique_ptr<GlRenderer>> GlRenderer::create(GlContext* context, size_t texture_cache_bytes) {
  std::unique_ptr<GlRenderer> r(new GlRenderer());
  r->context_ = context;
  r->impl_ = std::make_unique<Impl>(texture_cache_bytes);
  Impl& m = *r->impl_;
  namespace sh = shaders;
  VSLIDE_ASSIGN_OR_RETURN(m.tile.id, link_program(sh::k_tile_vert, sh::k_tile_frag, "tile"));
  VSLIDE_ASSIGN_OR_RETURN(m.resolve.id, link_program(sh::k_quad_vert, sh::k_resolve_frag, "resolve"));
  VSLIDE_ASSIGN_OR_RETURN(m.label.id, link_program(sh::k_quad_vert, sh::k_label_frag, "label"));
  VSLIDE_ASSIGN_OR_RETURN(m.outline.id, link_program(sh::k_quad_vert, sh::k_outline_frag, "outline"));
  glGenVertexArrays(1, &m.vao);
  glBindVertexArray(m.vao);
  // 3x3, not 1x1: software rasterisers key shader variants on whether
  // texture sizes are powers of two, and tiles rarely are.
  const uint16_t zero[9] = {0};
  glGenTextures(1, &m.zero_array);
  glBindTexture(GL_TEXTURE_2D_ARRAY, m.zero_array);
  glTexStorage3D(GL_TEXTURE_2D_ARRAY, 1, GL_R16UI, 3, 3, 1);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 2);
  glTexSubImage3D(GL_TEXTURE_2D_ARRAY, 0, 0, 0, 0, 3, 3, 1, GL_RED_INTEGER, GL_UNSIGNED_SHORT, zero);
  glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  glGenBuffers(1, &m.instances);
  glUseProgram(m.tile.id);
  for (int i = 0; i < kChannelsPerPass; ++i)
    glUniform1i(m.tile.loc(("u_tex" + std::to_string(i)).c_str()), i);
  if (GLenum e = glGetError(); e != GL_NO_ERROR) {
    return Status::internal("GL: set-up failed with error " + std::to_string(e));
  }
  // Drivers compile shader variants at the first draw (hundreds of ms on
  // llvmpipe): pay it here, where callers overlap it with tile loading.
  FramePlan warmup;
  warmup.viewport = Viewport{2, 2, 1, 8, 8, 1};
  auto img = std::make_shared<Image16>(3, 3);  // not a power of two, like tiles
  TileDraw d;
  d.width = d.height = 3;
  for (int c = 0; c < kChannelsPerPass; ++c) {
    warmup.display.channels.push_back(ChannelDisplay{c, Rgb{}, 0, 1, 1, true});
    d.planes.push_back(PlaneRef{TileKey{-2, -2, c, 0, 0, 0}, img});
  }
  warmup.tiles.push_back(d);
  VSLIDE_RETURN_IF_ERROR(r->render(warmup).status());
  r->clear_textures();
  return r;
}

GlRenderer::~GlRenderer() {
  if (!impl_) return;
  Impl& m = *impl_;
  m.textures.clear();
  m.pool.clear();
  for (GLuint p : {m.tile.id, m.resolve.id, m.label.id, m.outline.id}) glDeleteProgram(p);
  glDeleteTextures(1, &m.zero_array);
  glDeleteBuffers(1, &m.instances);
  if (m.fbo) glDeleteFramebuffers(1, &m.fbo);
  if (m.color) glDeleteTextures(1, &m.color);
  if (m.accum_fbo) glDeleteFramebuffers(1, &m.accum_fbo);
  if (m.accum) glDeleteTextures(1, &m.accum);
  glDeleteVertexArrays(1, &m.vao);
}

CacheStats GlRenderer::texture_cache_stats() const { return impl_->textures.stats(); }

void GlRenderer::clear_textures() {
  impl_->textures.clear();
  impl_->pool.commit_releases();
}

Status GlRenderer::draw(const FramePlan& plan) {
  VSLIDE_RETURN_IF_ERROR(validate_plan(plan));
  Impl& m = *impl_;
  stats_ = GlFrameStats{};
  const auto t_start = Clock::now();
  double upload_ms = 0;
  const int vw = plan.viewport.width_px, vh = plan.viewport.height_px;
  const int n = int(plan.display.channels.size());
  const bool multipass = n > kChannelsPerPass;

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
  glBindVertexArray(m.vao);
  glViewport(0, 0, vw, vh);
  glDisable(GL_DEPTH_TEST);
  glDisable(GL_BLEND);
  glClearColor(0, 0, 0, 1);
  glBindFramebuffer(GL_FRAMEBUFFER, m.fbo);
  glClear(GL_COLOR_BUFFER_BIT);
  if (multipass) {
    glBindFramebuffer(GL_FRAMEBUFFER, m.accum_fbo);
    glClear(GL_COLOR_BUFFER_BIT);
  }

  // The texture array layer holding `key`'s pixels, uploaded on a miss.
  struct DeferredUpload {
    TexSlot slot;
    const Image16* image;
  };
  std::vector<DeferredUpload> deferred;  // tile planes, uploaded in runs of layers
  auto texture_for = [&](const TileKey& key, const std::shared_ptr<const void>& source, GLenum internal,
                         GLenum type, int w, int h, const void* data, size_t bytes,
                         const Image16* defer) -> TexSlot {
    if (auto t = m.textures.get(key); t && t->source.lock() == source) return t->slot;
    const auto t0 = Clock::now();
    const TexSlot slot = m.pool.allocate(internal, w, h);
    if (defer) {
      deferred.push_back(DeferredUpload{slot, defer});
    } else {
      m.pool.upload(slot, type, data);
    }
    if (!m.textures.put(key, Impl::CachedTexture{slot, source}, bytes))
      m.pool.release(slot);  // larger than the cache
    ++stats_.textures_uploaded;
    stats_.bytes_uploaded += bytes;
    upload_ms += ms_since(t0);
    return slot;
  };
  // One glTexSubImage3D per run of consecutive layers: per-call overhead,
  // not bandwidth, is what uploads of small tiles cost.
  auto upload_deferred = [&] {
    const auto t0 = Clock::now();
    std::sort(deferred.begin(), deferred.end(), [](const DeferredUpload& a, const DeferredUpload& b) {
      return std::tie(a.slot.chunk, a.slot.layer) < std::tie(b.slot.chunk, b.slot.layer);
    });
    std::vector<uint16_t> staging;
    for (size_t i = 0; i < deferred.size();) {
      size_t j = i + 1;
      while (j < deferred.size() && deferred[j].slot.chunk == deferred[i].slot.chunk &&
             deferred[j].slot.layer == deferred[j - 1].slot.layer + 1 && (j - i) < kMaxUploadRun) {
        ++j;
      }
      if (j - i == 1) {
        m.pool.upload(deferred[i].slot, GL_UNSIGNED_SHORT, deferred[i].image->data());
      } else {
        const size_t px = deferred[i].image->pixel_count();
        staging.resize(px * (j - i));
        for (size_t k = i; k < j; ++k) {
          std::memcpy(staging.data() + (k - i) * px, deferred[k].image->data(), px * sizeof(uint16_t));
        }
        m.pool.upload_layers(deferred[i].slot.chunk, deferred[i].slot.layer, int(j - i), GL_UNSIGNED_SHORT,
                             staging.data());
      }
      i = j;
    }
    deferred.clear();
    upload_ms += ms_since(t0);
  };

  // Tiles (and the overview) with the channel shader, batched into
  // instanced draws: a batch ends when a channel slot needs another texture
  // array, and after every tile when channels take several passes (each
  // tile's passes must finish before the next tile covers it).
  const Program& tp = m.tile;
  glUseProgram(tp.id);
  glUniform2f(tp.loc("u_viewport"), float(vw), float(vh));
  glUniform1f(tp.loc("u_height"), float(vh));
  glUniform3f(tp.loc("u_placeholder_color"), plan.style.placeholder_color.r, plan.style.placeholder_color.g,
              plan.style.placeholder_color.b);
  glUniform1i(tp.loc("u_accumulate"), multipass ? 1 : 0);
  const GLint l_low = tp.loc("u_low"), l_high = tp.loc("u_high"), l_gamma = tp.loc("u_gamma"),
              l_status = tp.loc("u_status"), l_mix = tp.loc("u_mix");
  glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 0, m.instances);
  const int groups = (n + kChannelsPerPass - 1) / kChannelsPerPass;
  std::vector<TileInstance> batch;
  int batch_chunks[kChannelsPerPass] = {-1, -1, -1, -1};
  int batch_group = 0;
  auto set_group_uniforms = [&](int g) {
    float low[4] = {0, 0, 0, 0}, high[4] = {1, 1, 1, 1}, gamma[4] = {1, 1, 1, 1}, status[4] = {0, 0, 0, 0};
    float mix[12] = {0};
    for (int i = 0; i < kChannelsPerPass; ++i) {
      const int c = g * kChannelsPerPass + i;
      if (c >= n) continue;
      const ChannelDisplay& cd = plan.display.channels[size_t(c)];
      low[i] = cd.low;
      high[i] = cd.high;
      gamma[i] = cd.gamma;
      status[i] = cd.enabled ? 1.0f : 0.0f;
      mix[i * 3 + 0] = cd.color.r;
      mix[i * 3 + 1] = cd.color.g;
      mix[i * 3 + 2] = cd.color.b;
    }
    glUniform4fv(l_low, 1, low);
    glUniform4fv(l_high, 1, high);
    glUniform4fv(l_gamma, 1, gamma);
    glUniform4fv(l_status, 1, status);
    glUniform3fv(l_mix, kChannelsPerPass, mix);
  };
  set_group_uniforms(0);
  auto flush = [&] {
    if (batch.empty()) return;
    for (int i = 0; i < kChannelsPerPass; ++i) {
      glActiveTexture(GLenum(GL_TEXTURE0 + i));
      glBindTexture(GL_TEXTURE_2D_ARRAY,
                    batch_chunks[i] >= 0 ? m.pool.texture(batch_chunks[i]) : m.zero_array);
    }
    if (multipass) {
      if (batch_group == 0) {
        glDisable(GL_BLEND);
      } else {
        glEnable(GL_BLEND);
        glBlendFunc(GL_ONE, GL_ONE);
      }
    }
    glBufferData(GL_SHADER_STORAGE_BUFFER, GLsizeiptr(batch.size() * sizeof(TileInstance)), batch.data(),
                 GL_STREAM_DRAW);
    glDrawArraysInstanced(GL_TRIANGLE_STRIP, 0, 4, GLsizei(batch.size()));
    ++stats_.draw_calls;
    batch.clear();
    for (int& c : batch_chunks) c = -1;
  };
  auto quad = [&](float x0, float y0, float x1, float y1, float* out) {
    auto cx = [&](float v) { return std::clamp(v, -2.0f, float(vw) + 2.0f); };
    auto cy = [&](float v) { return std::clamp(v, -2.0f, float(vh) + 2.0f); };
    out[0] = cx(std::floor(x0) - 1);
    out[1] = cy(std::floor(y0) - 1);
    out[2] = cx(std::ceil(x1) + 1);
    out[3] = cy(std::ceil(y1) + 1);
  };
  // Upload every missing plane before the first draw: a software
  // rasteriser would otherwise finish the queued draws before each upload
  // into a texture array they sample.
  std::vector<TexSlot> slots;
  slots.reserve(plan.tiles.size() * size_t(n));
  for (const TileDraw& d : plan.tiles) {
    for (int c = 0; c < n; ++c) {
      const PlaneRef& p = d.planes[size_t(c)];
      if (d.placeholder || !p.image) {
        slots.push_back(TexSlot{});
        continue;
      }
      const Image16& img = *p.image;
      slots.push_back(texture_for(p.key, p.image, GL_R16UI, GL_UNSIGNED_SHORT, img.width(), img.height(),
                                  img.data(), img.byte_size(), &img));
    }
  }
  upload_deferred();
  for (size_t k = 0; k < plan.tiles.size(); ++k) {
    const TileDraw& d = plan.tiles[k];
    const DrawTransform t = draw_transform(plan.viewport, d.x_um, d.y_um, d.um_per_texel);
    for (int g = 0; g < (d.placeholder ? 1 : groups); ++g) {
      TileInstance inst{};
      quad(t.origin_x, t.origin_y, t.origin_x + float(d.width) * t.scale,
           t.origin_y + float(d.height) * t.scale, inst.rect);
      inst.xform[0] = t.origin_x;
      inst.xform[1] = t.origin_y;
      inst.xform[2] = t.inv_scale;
      inst.xform[3] = d.placeholder ? 1.0f : 0.0f;
      inst.size[0] = d.width;
      inst.size[1] = d.height;
      int chunks[kChannelsPerPass] = {-1, -1, -1, -1};
      for (int i = 0; i < kChannelsPerPass; ++i) {
        const int c = g * kChannelsPerPass + i;
        const TexSlot slot = c < n ? slots[k * size_t(n) + size_t(c)] : TexSlot{};
        chunks[i] = slot.chunk;
        inst.layers[i] = slot.layer;
      }
      bool fits = !multipass || batch.empty();
      for (int i = 0; i < kChannelsPerPass && fits; ++i) {
        if (chunks[i] >= 0 && batch_chunks[i] >= 0 && chunks[i] != batch_chunks[i]) fits = false;
      }
      if (!fits) flush();
      if (multipass && g != batch_group) {
        batch_group = g;
        set_group_uniforms(g);
      }
      for (int i = 0; i < kChannelsPerPass; ++i) {
        if (chunks[i] >= 0) batch_chunks[i] = chunks[i];
      }
      batch.push_back(inst);
      if (multipass) flush();
    }
  }
  flush();

  if (multipass) {
    glDisable(GL_BLEND);
    glBindFramebuffer(GL_FRAMEBUFFER, m.fbo);
    glUseProgram(m.resolve.id);
    glUniform2f(m.resolve.loc("u_viewport"), float(vw), float(vh));
    glUniform4f(m.resolve.loc("u_rect"), 0, 0, float(vw), float(vh));
    glUniform1i(m.resolve.loc("u_accum"), 0);
    glActiveTexture(GL_TEXTURE0);
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
      const TexSlot slot = texture_for(l.key, l.labels, GL_R32UI, GL_UNSIGNED_INT, lt.width, lt.height,
                                       lt.labels.data(), lt.labels.size() * 4, nullptr);
      glActiveTexture(GL_TEXTURE0);
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
  glFinish();
  m.pool.commit_releases();
  stats_.upload_ms = upload_ms;
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
  auto out = read_frame_rgb(m.fbo, m.fb_width, m.fb_height);
  stats_.readback_ms = ms_since(t0);
  return out;
}

Result<RgbImage> GlRenderer::render(const FramePlan& plan) {
  VSLIDE_RETURN_IF_ERROR(draw(plan));
  return read_back();
}

}  // namespace vslide::view

#include "vslide/analysis/image_ops.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>

namespace vslide {

ImageF gaussian_blur(const Image16View& src, double sigma_px) {
  const int w = src.width(), h = src.height();
  ImageF out{w, h, std::vector<float>(size_t(w) * size_t(h))};
  if (w == 0 || h == 0) return out;
  if (!(sigma_px > 0)) {
    for (int y = 0; y < h; ++y) std::copy(src.row(y), src.row(y) + w, out.pixels.begin() + ptrdiff_t(y) * w);
    return out;
  }
  const int r = std::max(1, int(std::ceil(3.0 * sigma_px)));
  std::vector<float> k(size_t(2 * r + 1));
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[size_t(i + r)] = float(std::exp(-0.5 * i * i / (sigma_px * sigma_px)));
  for (float& v : k) v = float(v / sum);

  // Horizontal pass into `tmp`, each row padded by replicating its ends.
  std::vector<float> tmp(size_t(w) * size_t(h)), padded(size_t(w + 2 * r));
  for (int y = 0; y < h; ++y) {
    const uint16_t* in = src.row(y);
    for (int i = 0; i < r; ++i) {
      padded[size_t(i)] = in[0];
      padded[size_t(w + r + i)] = in[w - 1];
    }
    for (int x = 0; x < w; ++x) padded[size_t(x + r)] = in[x];
    // Tap by tap over the whole row (contiguous loops the compiler
    // vectorises), pairing the symmetric taps.
    float* o = tmp.data() + size_t(y) * size_t(w);
    const float* c = padded.data() + r;
    const float k0 = k[size_t(r)];
    for (int x = 0; x < w; ++x) o[x] = k0 * c[x];
    for (int i = 1; i <= r; ++i) {
      const float kv = k[size_t(r + i)];
      const float* lo = c - i;
      const float* hi = c + i;
      for (int x = 0; x < w; ++x) o[x] += kv * (lo[x] + hi[x]);
    }
  }
  // Vertical pass: whole rows at a time (contiguous, vectorisable).
  for (int y = 0; y < h; ++y) {
    float* o = out.pixels.data() + size_t(y) * size_t(w);
    const float* c = tmp.data() + size_t(y) * size_t(w);
    const float k0 = k[size_t(r)];
    for (int x = 0; x < w; ++x) o[x] = k0 * c[x];
    for (int i = 1; i <= r; ++i) {
      const float* lo = tmp.data() + size_t(std::max(y - i, 0)) * size_t(w);
      const float* hi = tmp.data() + size_t(std::min(y + i, h - 1)) * size_t(w);
      const float kv = k[size_t(r + i)];
      for (int x = 0; x < w; ++x) o[x] += kv * (lo[x] + hi[x]);
    }
  }
  return out;
}

BackgroundStats background_stats(const ImageF& img) {
  // A regular subsample is plenty for a median and keeps this cheap.
  const size_t n = img.pixels.size(), step = std::max<size_t>(1, n / 200000);
  std::vector<float> v;
  v.reserve(n / step + 1);
  for (size_t i = 0; i < n; i += step) v.push_back(img.pixels[i]);
  if (v.empty()) return {};
  auto median = [](std::vector<float>& a) {
    auto mid = a.begin() + ptrdiff_t(a.size() / 2);
    std::nth_element(a.begin(), mid, a.end());
    return *mid;
  };
  BackgroundStats s;
  s.level = median(v);
  for (float& x : v) x = std::abs(x - s.level);
  s.noise = 1.4826f * median(v);
  return s;
}

float otsu_threshold(const ImageF& img) {
  if (img.pixels.empty()) return 0;
  const auto [mn, mx] = std::minmax_element(img.pixels.begin(), img.pixels.end());
  const double lo = std::floor(*mn);
  const size_t bins = size_t(std::min(65536.0, std::floor(*mx) - lo + 1));
  if (bins < 2) return float(lo);
  std::vector<uint64_t> hist(bins, 0);
  for (float v : img.pixels) ++hist[std::min(bins - 1, size_t(double(v) - lo))];
  double total = 0, sum_all = 0;
  for (size_t i = 0; i < bins; ++i) {
    total += double(hist[i]);
    sum_all += double(i) * double(hist[i]);
  }
  double w0 = 0, sum0 = 0, best = -1;
  size_t best_i = 0;
  for (size_t i = 0; i + 1 < bins; ++i) {
    w0 += double(hist[i]);
    sum0 += double(i) * double(hist[i]);
    const double w1 = total - w0;
    if (w0 == 0 || w1 == 0) continue;
    const double m0 = sum0 / w0, m1 = (sum_all - sum0) / w1;
    const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) {
      best = between;
      best_i = i;
    }
  }
  // Bin i holds values in [lo + i, lo + i + 1): foreground starts above it.
  return float(lo + double(best_i) + 1.0);
}

namespace {

uint32_t find_root(std::vector<uint32_t>& parent, uint32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];  // path halving
    x = parent[x];
  }
  return x;
}

void unite(std::vector<uint32_t>& parent, uint32_t a, uint32_t b) {
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a < b) parent[b] = a;
  else if (b < a) parent[a] = b;
}

}  // namespace

uint32_t label_components(const std::vector<uint8_t>& mask, int width, int height, std::vector<uint32_t>* labels) {
  const size_t n = size_t(width) * size_t(height);
  labels->assign(n, 0);
  std::vector<uint32_t> parent{0};
  auto& lab = *labels;
  // First pass: provisional labels, merged through the already-visited
  // neighbours W, NW, N and NE. A component's first pixel in raster order
  // always opens a new label, the smallest of its component: roots are kept
  // minimal, so final labels follow raster order.
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const size_t i = size_t(y) * size_t(width) + size_t(x);
      if (!mask[i]) continue;
      uint32_t l = 0;
      auto visit = [&](int xx, int yy) {
        if (xx < 0 || xx >= width || yy < 0) return;
        const uint32_t m = lab[size_t(yy) * size_t(width) + size_t(xx)];
        if (!m) return;
        if (!l) l = m;
        else if (m != l) unite(parent, l, m);
      };
      visit(x - 1, y);
      visit(x - 1, y - 1);
      visit(x, y - 1);
      visit(x + 1, y - 1);
      if (!l) {
        l = uint32_t(parent.size());
        parent.push_back(l);
      }
      lab[i] = l;
    }
  }
  // Second pass: consecutive final labels in order of the roots.
  std::vector<uint32_t> final_label(parent.size(), 0);
  uint32_t next = 0;
  for (uint32_t l = 1; l < parent.size(); ++l) {
    const uint32_t r = find_root(parent, l);
    if (r == l) final_label[l] = ++next;
  }
  for (uint32_t l = 1; l < parent.size(); ++l) final_label[l] = final_label[find_root(parent, l)];
  for (uint32_t& v : lab) v = final_label[v];
  return next;
}

std::vector<float> distance_transform(const std::vector<uint8_t>& mask, int width, int height) {
  constexpr float kInf = 1e30f;
  std::vector<float> d(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) d[i] = mask[i] ? kInf : 0.f;
  auto at = [&](int x, int y) -> float {
    // Outside the image: foreground, infinitely deep.
    if (x < 0 || y < 0 || x >= width || y >= height) return kInf;
    return d[size_t(y) * size_t(width) + size_t(x)];
  };
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      float& v = d[size_t(y) * size_t(width) + size_t(x)];
      if (v == 0.f) continue;
      v = std::min({v, at(x - 1, y) + 3, at(x - 1, y - 1) + 4, at(x, y - 1) + 3, at(x + 1, y - 1) + 4});
    }
  for (int y = height - 1; y >= 0; --y)
    for (int x = width - 1; x >= 0; --x) {
      float& v = d[size_t(y) * size_t(width) + size_t(x)];
      if (v == 0.f) continue;
      v = std::min({v, at(x + 1, y) + 3, at(x + 1, y + 1) + 4, at(x, y + 1) + 3, at(x - 1, y + 1) + 4});
    }
  // A mask with no background at all stays "infinitely" deep: cap it.
  const float cap = 3.f * float(width + height);
  for (float& v : d) v = std::min(v, cap) / 3.f;
  return d;
}

uint32_t split_touching(const std::vector<uint8_t>& mask, int width, int height, double level,
                        std::vector<uint32_t>* labels) {
  const size_t n = mask.size();
  std::vector<uint32_t> components;
  const uint32_t count = label_components(mask, width, height, &components);
  const std::vector<float> dist = distance_transform(mask, width, height);
  std::vector<float> deepest(size_t(count) + 1, 0.f);
  for (size_t i = 0; i < n; ++i) deepest[components[i]] = std::max(deepest[components[i]], dist[i]);
  std::vector<uint8_t> core(n, 0);
  for (size_t i = 0; i < n; ++i)
    core[i] = components[i] != 0 && dist[i] >= float(level) * deepest[components[i]];
  const uint32_t cores = label_components(core, width, height, labels);

  // Multi-source breadth-first growth of the cores through the mask.
  auto& lab = *labels;
  std::deque<size_t> queue;
  for (size_t i = 0; i < n; ++i)
    if (lab[i]) queue.push_back(i);
  while (!queue.empty()) {
    const size_t i = queue.front();
    queue.pop_front();
    const int x = int(i % size_t(width)), y = int(i / size_t(width));
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
        const size_t j = size_t(yy) * size_t(width) + size_t(xx);
        if (mask[j] && !lab[j]) {
          lab[j] = lab[i];
          queue.push_back(j);
        }
      }
  }
  return cores;
}

}  // namespace vslide

// Raw 16-bit channels to RGB (paper eq. 2 and 3): per-channel contrast
// window, gamma, then the mixer matrix times the status matrix. Up to four
// channels of a tile are packed in one texel (R16UI, RG16UI or RGBA16UI), so
// a pixel costs one fetch; more channels take one pass per group of four,
// summed in a float target and clamped by resolve.frag. The 8-bit frame
// clamps by itself. APPLY_GAMMA is defined in the variant used when a
// channel's gamma is not 1 (pow is costly on a software rasteriser).
//
// The quad covers only pixels whose texel lies inside the texture (decided
// on the CPU with the reference renderer's float rule); the clamp keeps a
// last-bit difference in the GPU's arithmetic on the edge texel.
#version 430 core
uniform usampler2DArray u_tex;
uniform float u_height;  // viewport height (to turn gl_FragCoord.y downwards)
uniform vec4 u_scale;    // 1 / (high - low)
uniform vec4 u_offset;   // -low / (high - low)
uniform vec4 u_gamma;
uniform mat4x3 u_mix;  // mixer matrix times status matrix: one column per channel
// Shading correction (FlatField::correct): each channel's gain grid (R32F),
// sampled bilinearly between cell centres exactly as the CPU does; only on
// tiles (v_xform.w > 0), never on the overview.
uniform sampler2D u_gain0, u_gain1, u_gain2, u_gain3;
uniform vec4 u_ff_on;  // 1 where the channel has a flat-field
uniform vec4 u_dark;
// Colour registration (FramePlan::channel_offsets, ChannelShift): channel i
// samples floor(p * scale + (d * 2^-level + half)); outside the tile it
// covers nothing. Only on tiles, never on the overview.
uniform float u_shift_on;  // 1 when a channel of this group has an offset
uniform vec4 u_shift_scale, u_shift_dx, u_shift_dy, u_shift_half;
flat in vec4 v_xform;  // origin x, origin y, texels per screen pixel, 2^-level for a tile (0: overview)
flat in ivec4 v_info;  // texture width, height, array layer
flat in vec4 v_present;  // 1 for each channel with a plane, 0 without
out vec4 frag_color;

float gain_at(sampler2D g, vec2 uv) {
  ivec2 n = textureSize(g, 0);
  vec2 p = clamp(uv * vec2(n) - 0.5, vec2(0.0), vec2(n - 1));
  ivec2 i0 = ivec2(p);
  ivec2 i1 = min(i0 + 1, n - 1);
  vec2 f = p - vec2(i0);
  float a = texelFetch(g, i0, 0).r, b = texelFetch(g, ivec2(i1.x, i0.y), 0).r;
  float c = texelFetch(g, ivec2(i0.x, i1.y), 0).r, d = texelFetch(g, i1, 0).r;
  float top = a + (b - a) * f.x, bottom = c + (d - c) * f.x;
  return top + (bottom - top) * f.y;
}

void main() {
  vec2 s = vec2(gl_FragCoord.x, u_height - gl_FragCoord.y);
  ivec2 t = clamp(ivec2(floor((s - v_xform.xy) * v_xform.z)), ivec2(0), v_info.xy - 1);
  vec4 l = vec4(texelFetch(u_tex, ivec3(t, v_info.z), 0));
  vec4 present = v_present;
  ivec2 tc[4] = ivec2[4](t, t, t, t);
  if (v_xform.w > 0.0 && u_shift_on > 0.5) {
    precise vec2 p = (s - v_xform.xy) * v_xform.z;
    for (int i = 0; i < 4; ++i) {
      precise vec2 o = vec2(u_shift_dx[i], u_shift_dy[i]) * v_xform.w + u_shift_half[i];
      precise vec2 q = p * u_shift_scale[i];
      precise vec2 r = q + o;
      ivec2 c = ivec2(floor(r));
      tc[i] = c;
      if (any(lessThan(c, ivec2(0))) || any(greaterThanEqual(c, v_info.xy)))
        present[i] = 0.0;
      else
        l[i] = float(texelFetch(u_tex, ivec3(c, v_info.z), 0)[i]);
    }
  }
  if (v_xform.w > 0.0 && any(greaterThan(u_ff_on, vec4(0.5)))) {
    vec2 n = vec2(v_info.xy);
    if (u_ff_on.x > 0.5) l.x = u_dark.x + (l.x - u_dark.x) / gain_at(u_gain0, (vec2(tc[0]) + 0.5) / n);
    if (u_ff_on.y > 0.5) l.y = u_dark.y + (l.y - u_dark.y) / gain_at(u_gain1, (vec2(tc[1]) + 0.5) / n);
    if (u_ff_on.z > 0.5) l.z = u_dark.z + (l.z - u_dark.z) / gain_at(u_gain2, (vec2(tc[2]) + 0.5) / n);
    if (u_ff_on.w > 0.5) l.w = u_dark.w + (l.w - u_dark.w) / gain_at(u_gain3, (vec2(tc[3]) + 0.5) / n);
  }
  vec4 v = clamp(l * u_scale + u_offset, 0.0, 1.0);
#ifdef APPLY_GAMMA
  v = pow(v, u_gamma);
#endif
  frag_color = vec4(u_mix * (v * present), 1.0);
}

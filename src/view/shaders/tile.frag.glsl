// Raw 16-bit channels to RGB (paper eq. 2 and 3): per-channel contrast
// window, gamma, then the mixer matrix times the status matrix. Up to four
// channels per pass; more channels take more passes, summed unclamped in a
// float target (u_accumulate = 1) and clamped by resolve.frag.
#version 430 core
const int kChannels = 4;
uniform usampler2D u_tex[kChannels];
uniform vec2 u_origin;      // screen position of texel (0,0), y down
uniform float u_inv_scale;  // texels per screen pixel
uniform ivec2 u_size;       // texture size in texels
uniform float u_height;     // viewport height (to turn gl_FragCoord.y downwards)
uniform vec4 u_low;
uniform vec4 u_high;
uniform vec4 u_gamma;
uniform vec4 u_status;      // status matrix diagonal (0 or 1)
uniform vec3 u_mix[kChannels];
uniform int u_accumulate;
uniform int u_placeholder;  // a tile that failed to load
uniform vec3 u_placeholder_color;
out vec4 frag_color;

void main() {
  vec2 s = vec2(gl_FragCoord.x, u_height - gl_FragCoord.y);
  vec2 t = floor((s - u_origin) * u_inv_scale);
  if (t.x < 0.0 || t.y < 0.0 || t.x >= float(u_size.x) || t.y >= float(u_size.y)) discard;
  if (u_placeholder != 0) {
    int ix = int(s.x), iy = int(s.y);
    float k = ((ix + iy) / 8) % 2 == 0 ? 1.0 : 0.25;
    frag_color = vec4(u_placeholder_color * k, 1.0);
    return;
  }
  ivec2 it = ivec2(t);
  vec3 rgb = vec3(0.0);
  for (int c = 0; c < kChannels; ++c) {
    float l = float(texelFetch(u_tex[c], it, 0).r);
    float v = clamp((l - u_low[c]) / (u_high[c] - u_low[c]), 0.0, 1.0);
    if (u_gamma[c] != 1.0) v = pow(v, u_gamma[c]);
    rgb += u_mix[c] * (u_status[c] * v);
  }
  frag_color = vec4(u_accumulate != 0 ? rgb : clamp(rgb, 0.0, 1.0), 1.0);
}

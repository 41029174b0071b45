// Raw 16-bit channels to RGB (paper eq. 2 and 3): per-channel contrast
// window, gamma, then the mixer matrix times the status matrix. Up to four
// channels per pass, one texture array per channel slot (constant sampler
// indices keep software rasterisers on their vectorised path); more
// channels take more passes, summed unclamped in a float target
// (u_accumulate = 1) and clamped by resolve.frag.
#version 430 core
uniform usampler2DArray u_tex0;
uniform usampler2DArray u_tex1;
uniform usampler2DArray u_tex2;
uniform usampler2DArray u_tex3;
uniform float u_height;     // viewport height (to turn gl_FragCoord.y downwards)
uniform vec4 u_low;
uniform vec4 u_high;
uniform vec4 u_gamma;
uniform vec4 u_status;      // status matrix diagonal (0 or 1)
uniform vec3 u_mix[4];
uniform int u_accumulate;
uniform vec3 u_placeholder_color;
flat in vec4 v_xform;   // origin x, origin y, texels per screen pixel, placeholder
flat in ivec4 v_size;    // texture width, height
flat in ivec4 v_layers;  // array layer per channel slot; -1: no plane
out vec4 frag_color;

void main() {
  vec2 s = vec2(gl_FragCoord.x, u_height - gl_FragCoord.y);
  vec2 t = floor((s - v_xform.xy) * v_xform.z);
  if (t.x < 0.0 || t.y < 0.0 || t.x >= float(v_size.x) || t.y >= float(v_size.y)) discard;
  if (v_xform.w != 0.0) {  // a tile that failed to load
    int ix = int(s.x), iy = int(s.y);
    float k = ((ix + iy) / 8) % 2 == 0 ? 1.0 : 0.25;
    frag_color = vec4(u_placeholder_color * k, 1.0);
    return;
  }
  ivec2 it = ivec2(t);
  ivec4 layer = max(v_layers, ivec4(0));
  vec4 present = vec4(greaterThanEqual(v_layers, ivec4(0)));
  vec4 l = vec4(float(texelFetch(u_tex0, ivec3(it, layer.x), 0).r), float(texelFetch(u_tex1, ivec3(it, layer.y), 0).r),
                float(texelFetch(u_tex2, ivec3(it, layer.z), 0).r), float(texelFetch(u_tex3, ivec3(it, layer.w), 0).r));
  vec4 v = clamp((l - u_low) / (u_high - u_low), 0.0, 1.0);
  if (u_gamma != vec4(1.0)) v = pow(v, u_gamma);
  v *= u_status * present;
  vec3 rgb = u_mix[0] * v.x + u_mix[1] * v.y + u_mix[2] * v.z + u_mix[3] * v.w;
  frag_color = vec4(u_accumulate != 0 ? rgb : clamp(rgb, 0.0, 1.0), 1.0);
}

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
flat in vec4 v_xform;  // origin x, origin y, texels per screen pixel
flat in ivec4 v_info;  // texture width, height, array layer
flat in vec4 v_present;  // 1 for each channel with a plane, 0 without
out vec4 frag_color;

void main() {
  vec2 s = vec2(gl_FragCoord.x, u_height - gl_FragCoord.y);
  ivec2 t = clamp(ivec2(floor((s - v_xform.xy) * v_xform.z)), ivec2(0), v_info.xy - 1);
  vec4 l = vec4(texelFetch(u_tex, ivec3(t, v_info.z), 0));
  vec4 v = clamp(l * u_scale + u_offset, 0.0, 1.0);
#ifdef APPLY_GAMMA
  v = pow(v, u_gamma);
#endif
  frag_color = vec4(u_mix * (v * v_present), 1.0);
}

// Detection layer overlay: objects of a label tile (0 = background) filled
// translucent, their boundaries (a 4-neighbour with another label) opaque.
// Blended over the frame with SRC_ALPHA, ONE_MINUS_SRC_ALPHA.
#version 430 core
uniform usampler2DArray u_labels;
uniform int u_layer;
uniform vec2 u_origin;
uniform float u_inv_scale;
uniform ivec2 u_size;
uniform float u_height;
uniform vec3 u_color;
uniform float u_fill_alpha;
out vec4 frag_color;

void main() {
  vec2 s = vec2(gl_FragCoord.x, u_height - gl_FragCoord.y);
  vec2 t = floor((s - u_origin) * u_inv_scale);
  if (t.x < 0.0 || t.y < 0.0 || t.x >= float(u_size.x) || t.y >= float(u_size.y)) discard;
  ivec2 p = ivec2(t);
  uint v = texelFetch(u_labels, ivec3(p, u_layer), 0).r;
  if (v == 0u) discard;
  bool edge = (p.x > 0 && texelFetch(u_labels, ivec3(p + ivec2(-1, 0), u_layer), 0).r != v) ||
              (p.x + 1 < u_size.x && texelFetch(u_labels, ivec3(p + ivec2(1, 0), u_layer), 0).r != v) ||
              (p.y > 0 && texelFetch(u_labels, ivec3(p + ivec2(0, -1), u_layer), 0).r != v) ||
              (p.y + 1 < u_size.y && texelFetch(u_labels, ivec3(p + ivec2(0, 1), u_layer), 0).r != v);
  frag_color = vec4(u_color, edge ? 1.0 : u_fill_alpha);
}

// Tile outline overlay: the pixels whose centres lie within u_width of the
// rectangle's edge, inside it.
#version 430 core
uniform vec4 u_box;  // x0, y0, x1, y1 in screen pixels, y down
uniform float u_width;
uniform float u_height;
uniform vec3 u_color;
out vec4 frag_color;

void main() {
  vec2 s = vec2(gl_FragCoord.x, u_height - gl_FragCoord.y);
  if (s.x < u_box.x || s.x >= u_box.z || s.y < u_box.y || s.y >= u_box.w) discard;
  bool edge = (s.x - u_box.x) < u_width || (u_box.z - s.x) <= u_width || (s.y - u_box.y) < u_width ||
              (u_box.w - s.y) <= u_width;
  if (!edge) discard;
  frag_color = vec4(u_color, 1.0);
}

// One screen-aligned quad per draw, generated from gl_VertexID (triangle
// strip of 4 vertices); no vertex buffer needed. u_rect is in screen pixels
// with y down, already expanded by a pixel so the fragment shader decides
// coverage exactly (see frame.h).
#version 430 core
uniform vec4 u_rect;      // x0, y0, x1, y1
uniform vec2 u_viewport;  // width, height in pixels

void main() {
  float x = (gl_VertexID & 1) != 0 ? u_rect.z : u_rect.x;
  float y = (gl_VertexID & 2) != 0 ? u_rect.w : u_rect.y;
  gl_Position = vec4(x / u_viewport.x * 2.0 - 1.0, 1.0 - y / u_viewport.y * 2.0, 0.0, 1.0);
}

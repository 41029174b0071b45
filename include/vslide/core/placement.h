// Where a field of view lies: the one rule every part (view, export, analysis)
// uses to place fields, by stage position or by registered position.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "vslide/core/registration.h"
#include "vslide/core/slide_source.h"
#include "vslide/core/status.h"

namespace vslide {

enum class PositionsMode {
  kRegistered,  // registered position where the slide has one, else the stage's (default)
  kStage,       // always the stage's position, as recorded at acquisition
};

Result<PositionsMode> parse_positions_mode(std::string_view name);  // "registered" | "stage"
std::string_view positions_mode_name(PositionsMode mode);

// Top-left corner of field (row, col) in slide micrometres. `registration`
// may be null (none stored). NotFound when the slide has no such field.
Result<std::pair<double, double>> field_origin_um(const SlideSource& source, const Registration* registration,
                                                  int32_t row, int32_t col, PositionsMode mode);

// The same from an index entry already at hand (no lookup in the source).
std::pair<double, double> field_origin_um(const FieldOfView& field, const Registration* registration,
                                          PositionsMode mode);
// In plane (z, t): the plane's own registered position where one is stored
// (Registration::plane_fields), else the field's.
std::pair<double, double> field_origin_um(const FieldOfView& field, const Registration* registration,
                                          PositionsMode mode, int32_t z, int32_t t);

}  // namespace vslide

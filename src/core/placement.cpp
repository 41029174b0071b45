#include "vslide/core/placement.h"

#include <string>

namespace vslide {

Result<PositionsMode> parse_positions_mode(std::string_view name) {
  if (name == "registered") return PositionsMode::kRegistered;
  if (name == "stage") return PositionsMode::kStage;
  return Status::invalid_argument("positions must be 'stage' or 'registered', not '" + std::string(name) + "'");
}

std::string_view positions_mode_name(PositionsMode mode) {
  return mode == PositionsMode::kStage ? "stage" : "registered";
}

std::pair<double, double> field_origin_um(const FieldOfView& field, const Registration* registration,
                                          PositionsMode mode) {
  if (mode == PositionsMode::kRegistered && registration != nullptr) {
    if (const FieldPlacement* p = registration->find(field.row, field.col)) return {p->x_um, p->y_um};
  }
  return {field.stage_x_um, field.stage_y_um};
}

std::pair<double, double> field_origin_um(const FieldOfView& field, const Registration* registration,
                                          PositionsMode mode, int32_t z, int32_t t) {
  if (mode == PositionsMode::kRegistered && registration != nullptr) {
    if (const FieldPlacement* p = registration->find(field.row, field.col, z, t)) return {p->x_um, p->y_um};
  }
  return {field.stage_x_um, field.stage_y_um};
}

Result<std::pair<double, double>> field_origin_um(const SlideSource& source, const Registration* registration,
                                                  int32_t row, int32_t col, PositionsMode mode) {
  const auto index = source.index();
  const TileIndex::Entry* e = index->find(row, col);
  if (e == nullptr) {
    return Status::not_found(source.describe() + ": no field (" + std::to_string(row) + "," + std::to_string(col) + ")");
  }
  return field_origin_um(e->field, registration, mode);
}

}  // namespace vslide

#include "vslide/core/registration.h"

#include <algorithm>

namespace vslide {

const FieldPlacement* Registration::find(int32_t row, int32_t col) const {
  auto it = std::lower_bound(fields.begin(), fields.end(), std::pair{row, col},
                             [](const FieldPlacement& f, const std::pair<int32_t, int32_t>& k) {
                               return std::pair{f.row, f.col} < k;
                             });
  if (it == fields.end() || it->row != row || it->col != col) return nullptr;
  return &*it;
}

}  // namespace vslide

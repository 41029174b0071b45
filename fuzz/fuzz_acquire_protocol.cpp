// The acquisition protocol's messages (docs/ACQUISITION.md): a frame from a
// scanner or a manager, parsed as JSON and then as a scan spec, a field's
// metadata, a key or a reply.
#include <cstdint>
#include <span>

#include "vslide/acquire/protocol.h"

using namespace vslide;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto message = acquire::parse_message(std::span<const uint8_t>(data, size), "fuzz");
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  if (auto spec = acquire::scan_spec_from_json(j); spec.ok()) {
    volatile int64_t planes = spec->geometry.planes_per_field();
    (void)planes;
    (void)acquire::scan_spec_to_json(*spec);
  }
  if (j.is_object() && j.contains("spec")) (void)acquire::scan_spec_from_json(j["spec"]);
  if (auto m = acquire::field_meta_from_json(j); m.ok()) (void)acquire::field_meta_to_json(*m);
  (void)acquire::key_from_array(j);
  (void)acquire::status_from_reply(j);
  (void)message;
  return 0;
}

// Glue between the synthetic scanner and the acquisition protocol: what a
// simulated microscope sends (used by `vslide scan --simulate`, the benchmark
// and the tests, which render the same planes again to check them).
#pragma once

#include <vector>

#include "vslide/acquire/scanner_client.h"
#include "vslide/simulate/scanner.h"

namespace vslide::acquire {

// The scan as the simulator describes it, pixels sent in `codec`.
ScanSpec scan_spec_for(const SyntheticScanner& scanner, const CodecSpec& codec);

// Every plane in acquisition order: field by field (serpentine), and within
// a field t, z, channel (channel fastest), as a camera behind a filter wheel
// delivers them.
std::vector<PlaneToSend> planes_in_order(const SyntheticScanner& scanner);

// Renders and encodes one plane.
Result<std::shared_ptr<const std::vector<uint8_t>>> render_encoded(const SyntheticScanner& scanner,
                                                                   const TileKey& key, const CodecSpec& codec);

}  // namespace vslide::acquire

// Small helpers the benchmarks share: order statistics, the page cache and
// the writing of a bench slide's planes.
#pragma once

#include <string>
#include <vector>

#include "vslide/core/slide_source.h"
#include "vslide/core/status.h"

namespace vslide {
class SyntheticScanner;
}

namespace vslide::cli {

// The p-quantile (0..1) of v by nearest rank; 0 for an empty vector.
double percentile(std::vector<double> v, double p);
// The median (mean of the middle two for an even count); 0 for an empty vector.
double median(std::vector<double> v);

// Writes the file's dirty pages to disk (fdatasync) and asks the kernel to
// drop its pages from the page cache (posix_fadvise POSIX_FADV_DONTNEED), so
// the next read comes from the disk. Pages a process still has mapped stay:
// close mappings of the file first.
Status evict_from_page_cache(const std::string& path);
// Fraction (0..1) of the file's pages now in the page cache (mincore), or -1
// when it cannot be told. Benchmarks print it so a "cold" figure shows
// whether the eviction worked on this file system.
double resident_fraction(const std::string& path);

// Renders every channel of plane (z 0, t 0) of each of the scanner's fields
// (fields whose write_field the caller has made) and writes it to `slide` on
// `threads` workers (at least 1), each rendering into its own buffer, with a
// "bench slide" progress bar unless `quiet`. Every plane is tried even after
// an error; returns the first write error. Does not finish the slide.
Status write_scanner_planes(const SyntheticScanner& scanner, SlideWriter& slide, int threads, bool quiet);

}  // namespace vslide::cli

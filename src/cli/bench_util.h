// Small helpers the benchmarks share: order statistics and the page cache.
#pragma once

#include <string>
#include <vector>

#include "vslide/core/status.h"

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

}  // namespace vslide::cli

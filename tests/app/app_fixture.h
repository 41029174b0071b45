// Shared by the window tests: a private Xvfb and one QApplication for the
// whole test program, small real slides written from the synthetic
// scanner, and helpers that wait for the window to settle.
#pragma once

#include <QApplication>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/testing.h"
#include "vslide/app/app.h"
#include "vslide/app/viewer_canvas.h"
#include "vslide/simulate/scanner.h"

namespace vslide::app::testing {

// Starts Xvfb (once) and the QApplication (once); false with a reason when
// there is no X server to be had.
bool ensure_app(std::string* why);

// A 3x4-tile slide, 5 channels (more than one 4-channel pass), 2 z planes.
ScanConfig small_scan(int channels = 5, int z = 2);
// Writes the scanner's slide to `path`; `finish` false leaves it scanning.
void write_scan(const ScanConfig& c, const std::string& path, bool finish = true);

// Processes events until `done` or the timeout; returns done().
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(20));
// Waits until the canvas has painted the model's current version completely.
bool settle(MainWindow& w, std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace vslide::app::testing

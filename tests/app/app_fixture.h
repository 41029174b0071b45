// Shared by the window tests: a private Xvfb and one QApplication for the
// whole test program, small real slides written from the synthetic
// scanner, and helpers that wait for the window to settle.
#pragma once

#include <QApplication>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "common/testing.h"
#include "vslide/app/app.h"
#include "vslide/app/viewer_canvas.h"
#include "vslide/simulate/scanner.h"
#include "vslide/view/frame.h"

namespace vslide::app::testing {

// Starts Xvfb (once) and the QApplication (once); false with a reason when
// there is no X server to be had.
bool ensure_app(std::string* why);

// A 3x4-tile slide, 5 channels (more than one 4-channel pass), 2 z planes.
ScanConfig small_scan(int channels = 5, int z = 2);
// Writes the scanner's slide to `path`; `finish` false leaves it scanning;
// with `registration`, stores it (registered field positions).
void write_scan(const ScanConfig& c, const std::string& path, bool finish = true,
                const Registration* registration = nullptr);

// Processes events until `done` or the timeout; returns done().
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(20));
// Waits until the canvas has painted the model's current version completely.
bool settle(MainWindow& w, std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A shown, active window of w x h with `slide` (a file or URL) opened and settled.
std::unique_ptr<MainWindow> open_window(const std::string& slide, int w = 900, int h = 640);
// The canvas's frame as an RGB image.
view::RgbImage shown_frame(MainWindow& w);
// Once settled, the canvas equals the CPU reference renderer for the
// window's state (reading the slide file at `path`) within 1/255, and is not black.
void expect_matches_cpu(MainWindow& w, const std::string& path);

}  // namespace vslide::app::testing

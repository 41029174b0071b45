// The slide writer process: one per scan, started by the slide manager as
// `vslide slide-writer --scan-dir DIR --mode new|resume|recover --ready-fd N`.
// It holds the scan's writer lock, the spool, the ScanWriter (file side) and
// the SlideProxy (scanner side) as threads of one process.
//
//   new      create the slide file, serve the scanner, finish "complete"
//   resume   a previous writer of this scan died: reopen the file, replay the
//            spool, serve the scanner again (it resumes); finish "recovered"
//   recover  the manager restarted and found this scan without a writer:
//            reopen, replay, serve for recover_wait_s in case the scanner
//            is still alive (it then sends its remaining planes and ends
//            the scan), else finish "recovered"; with the scan folder's
//            "abandoned" marker (the manager gave up on the scan) finish
//            "failed" at once
//
// Once bound, it writes "ready tcp://HOST:PORT\n" to the ready fd and to the
// scan folder's proxy.endpoint. When the file is finished and catalogued it
// writes the folder's "finished" marker, deletes the spool and exits 0.
#pragma once

#include <string>

#include "vslide/core/status.h"

namespace vslide::acquire {

enum class WriterMode { kNew, kResume, kRecover };
std::string_view writer_mode_name(WriterMode m);
Result<WriterMode> parse_writer_mode(std::string_view s);

// Exit codes of the writer process; the manager restarts a writer that died
// by a signal or exited with kExitRetry, never one that exited kExitPermanent.
constexpr int kExitRetry = 1;
constexpr int kExitPermanent = 3;
// The slide file could not be written (disk full, I/O error): the process
// leaves without closing it (as after a kill: the file as last flushed and
// the spool are the record) and the manager restarts it after a pause,
// without counting it against --max-restarts, until space is freed.
constexpr int kExitStorage = 4;

// Runs the whole process body; returns its exit code (messages on stderr).
int run_writer_process(const std::string& scan_dir, WriterMode mode, int ready_fd);

}  // namespace vslide::acquire

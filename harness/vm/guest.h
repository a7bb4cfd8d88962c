#pragma once
/// \file
/// Talking to a guest: what goes in (the /init script and the command it
/// runs), how the report comes back (the serial console, between markers),
/// and the QEMU process itself (own process group, a deadline, killed and
/// reaped on every path, the last console lines kept for errors).
///
/// Protocol on the console: /init prints `@@vmakit init@@` once it runs,
/// quiets the kernel's console log, runs the command with its stdout in a
/// file and its stderr on the console, then prints `@@vmakit out@@`, the
/// file, and `@@vmakit end RC@@` on a line of its own, and powers off.

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace vma::harness::vm {

struct GuestCommand {
  /// argv to run in the guest.
  std::vector<std::string> argv;
  /// Environment assignments ("VMA_KCONFIG=/vmakit/config").
  std::vector<std::string> env;
  /// Kernel modules to insmod first, in order (guest paths).
  std::vector<std::string> modules;
  /// Mount the host's root (9p tag "hostroot") read-only under a tmpfs
  /// overlay and run argv chrooted there, in `cwd`.
  bool host_root = false;
  std::string cwd;
};

/// The /init script (busybox sh) that runs `c`.
std::string init_script(const GuestCommand& c);

/// The prompt of the shell shell_init_script gives (LAVA waits for it).
inline constexpr std::string_view kShellPrompt = "vmakit# ";

/// An /init script (busybox sh) that loads `c.modules`, exports `c.env`,
/// puts /vmakit/bin on PATH and gives a shell on the console with the
/// prompt kShellPrompt, again whenever it exits; `c.argv` is not run.
std::string shell_init_script(const GuestCommand& c);

/// `s` as one single-quoted sh word.
std::string sh_quote(std::string_view s);

/// Reads the console as it comes, line by line (CR stripped).
class ConsoleParser {
 public:
  void feed(std::string_view bytes);
  /// Call at EOF: a last line without newline is kept.
  void finish();

  bool reached_init() const { return init_; }
  /// The command's exit status, once its end marker was read.
  std::optional<int> exit_status() const { return rc_; }
  /// Its stdout (the bytes between the markers).
  const std::string& output() const { return out_; }
  /// Console lines after init outside the report, as they come (the
  /// command's stderr). Taken (cleared) by the caller.
  std::vector<std::string> take_console();
  /// Adds a line to last_lines() that did not come from the console
  /// (QEMU's own stderr).
  void note(std::string l);
  /// The last lines printed outside the report, boot messages included,
  /// for error messages.
  const std::deque<std::string>& last_lines() const { return last_; }

 private:
  void line(std::string l);
  std::string partial_;
  bool init_ = false, in_out_ = false;
  std::optional<int> rc_;
  std::string out_;
  std::vector<std::string> console_;
  std::deque<std::string> last_;
};

struct GuestResult {
  int exit_status = 0;  ///< the command's
  std::string output;   ///< its stdout
  double seconds = 0;   ///< QEMU start to exit
};

/// Why a guest run ended without a report.
enum class GuestFailure {
  /// QEMU missing, the kernel died, no report before the deadline...
  error,
  /// The guest never reached init: not within the progress deadline (an
  /// accelerator that starts a guest but never runs it: nested KVM), or
  /// QEMU died or the deadline passed before it. Under `auto`, KVM then
  /// gives way to TCG; a guest that hangs after init does not.
  no_progress,
  /// SIGINT or SIGTERM arrived (stop_signal() says which).
  interrupted,
};

/// A guest run: the report, or why there is none.
struct GuestOutcome {
  std::optional<GuestResult> result;
  GuestFailure failure = GuestFailure::error;
  /// What happened, ending with the last console lines; empty on success.
  std::string error;
};

/// The limits of one guest run, in seconds.
struct GuestLimits {
  double deadline = 300;  ///< boot and run, then QEMU is killed
  /// The guest must reach init (print its first marker) within this many
  /// seconds, else the run ends as GuestFailure::no_progress; 0: no such
  /// limit.
  double progress = 0;
};

/// SIGINT or SIGTERM, once one stopped a run (the process blocks both in
/// `vm` and `matrix` and takes them from a signalfd while a guest runs, or
/// from pending_stop() between runs); 0 until then.
int stop_signal();

/// Takes a pending SIGINT or SIGTERM (blocked by the caller) without
/// waiting; its number, also kept for stop_signal(), or 0.
int pending_stop();

/// True when QEMU `argv` (started paused, `-S -monitor stdio`) exits 0
/// after a `quit` on its monitor within `deadline_s`: KVM is usable when
/// QEMU can create its vCPUs there (an openable /dev/kvm is not enough:
/// nested setups fail to set MSRs).
/// A SIGINT or SIGTERM ends the wait (false; stop_signal() says which).
bool qemu_runs(const std::vector<std::string>& argv, double deadline_s);

/// Runs `argv` (QEMU) until the guest reports or a limit passes. Console
/// lines after init outside the report go to `on_console` (may be empty).
/// Failures (QEMU missing, did not reach init, no progress, no report,
/// deadline, SIGINT or SIGTERM) say what happened and end with the last
/// console lines; QEMU's process group is killed and reaped on every path.
GuestOutcome run_guest(const std::vector<std::string>& argv, const GuestLimits& limits,
                       const std::function<void(const std::string&)>& on_console);

}  // namespace vma::harness::vm

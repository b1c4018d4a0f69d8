#pragma once
// A grading session: load the rubrics of the chosen labs, check that their images are
// built, calibrate each emulator, boot every (lab, guest, emulator) on a pool of threads,
// learn test names a crash hid from a bare reference boot, and score.

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograder/grader/rubric.hpp"
#include "autograder/grader/run.hpp"
#include "autograder/grader/score.hpp"

namespace hvlab::grader {

struct Calibration {
  Emulator emu = Emulator::qemu;
  bool attempted = false;
  bool usable = true;         ///< false: the emulator could not be started at all
  double measured_s = 0;
  double reference_s = 0;
  double factor = 1.0;        ///< timeouts are multiplied by it (never below 1)
  std::string problem;        ///< why calibration did not give a figure
  bool evidence = false;      ///< QEMU loads the execution-evidence plugin
};

struct SessionOptions {
  std::filesystem::path build_dir;
  std::filesystem::path rubric_dir;
  std::vector<std::string> labs;       ///< lab names; empty: every rubric in rubric_dir
  std::vector<Emulator> emulators = {Emulator::qemu, Emulator::bochs, Emulator::host};
  unsigned jobs = 1;                   ///< boots in parallel
  bool icount = false;                 ///< QEMU -icount shift=0,sleep=off
  double timeout_scale = 1.0;          ///< multiplies every per-boot timeout
  bool calibrate = true;               ///< boot the calibration kernel first
  std::filesystem::path keep_logs;     ///< keep logs of boots that were not clean here
  /// Where the guest images (`<image>.elf`) are; empty: `<build_dir>/autograder/guests`. Batch
  /// grading builds only a submission's monitors and takes the guests from the instructor's build.
  std::filesystem::path guest_dir;
  /// The calibration kernel; empty: `<build_dir>/autograder/grader/calibrate.elf`.
  std::filesystem::path calibration_kernel;
  /// Labs that could not be built, with the reason (the compiler's message): scored 0 as
  /// not built, never booted, even if an old image is there.
  std::map<std::string, std::string> build_failures;
  /// Calibrations measured earlier (a batch measures once): an emulator found here is not
  /// calibrated again.
  std::vector<Calibration> preset_calibration;
  /// A batch's shared cores: the session's boots run on its own core and on those it can take
  /// (without waiting) while they are free, up to `jobs` at a time; each is given back after its
  /// boot. Unset: `jobs` boots at a time.
  std::function<bool()> try_take_core;
  std::function<void()> give_core;
  std::function<std::string()> make_nonce;       ///< default: random_nonce
  std::function<std::uint64_t()> make_seed;      ///< default: random (guests with a test table)
  /// The execution-evidence plugin (build/autograder/plugins/libhvlab_evidence.so) for QEMU
  /// boots of guests with a test table; empty: none. Used if QEMU loads it at calibration.
  std::filesystem::path evidence_plugin;
  /// Why the machine lacks a rubric's `requires`, or empty; default: missing_requirement.
  std::function<std::string(const std::vector<std::string>&)> check_requirements;
  std::function<void(const std::string&)> progress;  ///< one line per event, any thread
};


/// Why this machine cannot run a lab whose rubric `requires` these ("kvm": a KVM that runs
/// 32-bit paging guests), or empty. The grader checks it itself, before anything of the
/// lab runs, so a submission cannot skip its own grading.
std::string missing_requirement(const std::vector<std::string>& requirements);

/// Reference figures: seconds a calibration boot takes on an unloaded machine of the kind
/// the kit targets (2 cores, Debian 12). Timeouts grow in proportion when it takes longer.
double calibration_reference_seconds(Emulator e);

struct SessionResult {
  std::vector<LabResult> labs;
  std::vector<Calibration> calibration;
  std::map<Emulator, EmuTiming> reference_boots;  ///< bare boots to learn test names
  double wall_seconds = 0;
  bool cancelled = false;

  /// Every graded lab has full marks and no errors, and at least one lab was graded. A lab
  /// skipped because the machine lacks what it needs is not counted: a skip is not a pass.
  bool all_full_marks() const;
  /// The grader's exit status 0: nothing failed. Every lab asked for has full marks, or was
  /// skipped for a reason the machine gives (its rubric's `requires`, with that reason shown);
  /// at least one lab was graded or skipped. Not built, rubric errors, lost points: failed.
  bool no_failures() const;
  /// The labs skipped for what the machine lacks, in order.
  std::vector<const LabResult*> skipped_labs() const;
  double score() const;
  double max_score() const;
};

/// Thrown for problems with the command itself (a lab with no rubric file).
class SessionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

SessionResult run_session(const SessionOptions& options, const BootFn& boot,
                          const std::atomic<bool>& cancel);

/// Boots the calibration kernel on `emu` once and measures it (a batch calibrates before it
/// grades anyone, then passes the figures as preset_calibration).
Calibration calibrate_emulator(Emulator emu, const SessionOptions& options, const BootFn& boot,
                               const std::atomic<bool>& cancel);

/// Runs fn(i) for i in [0, count) on up to `threads` threads.
void parallel_for(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& fn);

/// Where the build puts things.
std::filesystem::path guest_image_path(const std::filesystem::path& build_dir, const std::string& image);
/// The rubric file of a lab: `<dir>/hidden/<lab>.toml` when the instructor has one (it never
/// reaches students: tools/handout/instructor-only.txt), else `<dir>/<lab>.toml`.
std::filesystem::path rubric_file(const std::filesystem::path& rubric_dir, const std::string& lab);
std::filesystem::path calibration_kernel_path(const std::filesystem::path& build_dir);

}  // namespace hvlab::grader

#pragma once
// Grading students' trees: what a submission is (a folder or an archive), where its tree
// starts, which of its files are taken (the isolation policy), the compiler's message when
// it does not build, and the CSV gradebook. No processes are started here: the batch driver
// (batch.hpp) runs tar, CMake and Ninja.
//
// The policy, documented in autograder/README.md: a submission is graded in a fresh copy of
// the instructor's handout tree, into which only the student's source files inside the lab
// folders are copied (*.cpp, *.hpp, *.h, *.c, *.cc, *.S, *.s, *.inc; no CMakeLists.txt,
// *.cmake, linker scripts, Makefile, autograder/, tools/ or common/), then built with the
// instructor's build rules. Nothing of the submission is ever run on the host.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hvlab::grader::batch {

/// Archive formats a submission may come in (extracted with tar or unzip).
enum class ArchiveKind { none, tar, zip };
ArchiveKind archive_kind(const std::filesystem::path& p);

/// A student's id from a submission's file or folder name: the name without its archive
/// extension, reduced to [A-Za-z0-9._@+-] (anything else becomes '_'), never empty and never
/// starting with '.' or '-'.
std::string student_id(const std::filesystem::path& entry);

/// The submissions in a folder: every sub-folder and archive, by name (links in the folder
/// are followed); entries starting with '.' are skipped.
std::vector<std::filesystem::path> list_submissions(const std::filesystem::path& dir);

/// The top-level lab folders of a tree ("lab01-trap-and-emulate", ...): folders named
/// labNN-*.
std::vector<std::string> lab_folders(const std::filesystem::path& tree);

/// The top of a student tree inside `dir`: the shallowest folder (at most 4 levels down)
/// that holds one of `labs` as a folder. Symbolic links are never followed; .git and
/// build folders are not searched.
std::optional<std::filesystem::path> find_tree_root(const std::filesystem::path& dir,
                                                    const std::vector<std::string>& labs);

/// Why a file of the submission is not taken; `taken` if it is.
enum class FileVerdict { taken, build_rule, outside_labs, not_source, too_large, not_regular };
const char* verdict_text(FileVerdict v);

inline constexpr std::uintmax_t kMaxSourceBytes = 1 << 20;
inline constexpr std::size_t kMaxFiles = 20000;

/// The policy for one path relative to the tree's top (with '/' separators).
FileVerdict classify(std::string_view rel, const std::vector<std::string>& labs);

struct IgnoredFile {
  std::string path;
  std::string why;
};

struct Overlay {
  std::vector<std::string> taken;     ///< relative paths copied into the work tree
  std::vector<IgnoredFile> ignored;   ///< files that differ from the handout and were not taken
  std::size_t ignored_total = 0;      ///< ignored may be cut short; this is the full count
  bool truncated = false;             ///< more than kMaxFiles files: the rest was not looked at
};

/// Copies the taken files of the student tree at `root` into `work_tree` (a copy of the
/// handout at `base`), replacing the handout's versions. Files it ignores are listed when
/// they are new or differ from `base`. Throws std::runtime_error naming the file when a copy
/// fails.
Overlay overlay_submission(const std::filesystem::path& root, const std::filesystem::path& base,
                           const std::filesystem::path& work_tree, const std::vector<std::string>& labs);

/// Copies a tree (regular files, folders and symbolic links as links), leaving out .git,
/// the top-level build and build-* folders, and the relative paths in `skip` (folders or
/// files). With `hard_links`, files are linked when the file system allows it.
void copy_tree(const std::filesystem::path& from, const std::filesystem::path& to, bool hard_links = false,
               const std::vector<std::string>& skip = {});

/// The part of a CMake/Ninja log a student needs: the failed step's compiler diagnostics
/// (errors and their context, not the command line), paths shown relative to the tree
/// (`source_root` and "../src/" removed), at most `max_lines` lines.
std::string compiler_message(std::string_view log, const std::string& source_root, std::size_t max_lines = 30);

/// The first line of compiler_message() that says "error", for one-line reasons.
std::string first_error_line(std::string_view message);

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a leading
/// = + - @ is neutralised with a ' so spreadsheets do not run it as a formula.
std::string csv_field(std::string_view s);

/// The gradebook: one row per student report (the JSON of report.json), columns student,
/// score, max_score, percent, status, one per lab, one per exercise, reason.
std::string gradebook_csv(const std::vector<nlohmann::json>& reports);

/// Parses CSV text (RFC 4180) into rows of fields; nullopt if it is malformed (an unclosed
/// quote, or a quote inside an unquoted field).
std::optional<std::vector<std::vector<std::string>>> parse_csv(std::string_view text);

}  // namespace hvlab::grader::batch

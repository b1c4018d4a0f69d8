// hvlab-handout: writes the student tree. See handout.hpp and labs/README.md.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tools/handout/handout.hpp"

namespace fs = std::filesystem;
using namespace hvlab::handout;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> git_files(const fs::path& source) {
  std::vector<std::string> files;
  std::string cmd = "git -C '" + source.string() + "' ls-files -z --cached --others --exclude-standard";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return files;
  std::string cur;
  for (int c; (c = fgetc(p)) != EOF;) {
    if (c == 0) {
      if (!cur.empty()) files.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(c);
    }
  }
  if (pclose(p) != 0) files.clear();
  return files;
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

// Written at the top of every handout: marks the tree as a student tree (autograder/grade
// installs the pre-push hook in one, batch grading grades in one) and lets --force know that
// a folder is a handout it may replace.
constexpr const char* kMarker = ".hvlab-handout";

std::string git_head(const fs::path& source) {
  std::string cmd = "git -C '" + source.string() + "' rev-parse --short HEAD 2>/dev/null";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    for (int c; (c = fgetc(p)) != EOF;)
      if (c != '\n') out += static_cast<char>(c);
    pclose(p);
  }
  return out.empty() ? "unknown" : out;
}

bool natural_less(const std::string& a, const std::string& b) {
  // lab01-e2 before lab01-e10
  auto split = [](const std::string& s) {
    std::size_t i = s.size();
    while (i > 0 && std::isdigit(static_cast<unsigned char>(s[i - 1]))) --i;
    return std::make_pair(s.substr(0, i), i < s.size() ? std::stol(s.substr(i)) : -1L);
  };
  return split(a) < split(b);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hvlab-handout: generate the student handout from the reference tree"};
  std::string source = ".", dest, upto = "none", list;
  bool no_git = false, force = false;
  app.add_option("--source", source, "the reference tree (a git work tree)")->check(CLI::ExistingDirectory);
  app.add_option("--dest", dest, "where to write the handout (must not exist, or be empty)")->required();
  app.add_option("--upto", upto, "keep the solutions of the labs up to this one (labNN), the catch-up checkpoint");
  app.add_option("--instructor-list", list, "glob patterns of instructor-only files, one per line");
  app.add_flag("--no-git", no_git, "do not make the handout a git repository");
  app.add_flag("--force", force, "replace an existing destination");
  CLI11_PARSE(app, argc, argv);

  int keep_upto = upto == "none" ? 0 : lab_of(upto + "-x");
  if (upto != "none" && keep_upto == 0) {
    fmt::print(stderr, "hvlab-handout: --upto takes labNN (e.g. lab01), not '{}'\n", upto);
    return 2;
  }
  fs::path src = fs::absolute(source), dst = fs::absolute(dest).lexically_normal();
  if (dst.filename().empty()) dst = dst.parent_path();  // "build/handout/"
  if (fs::exists(dst) && !fs::is_empty(dst)) {
    if (!force) {
      fmt::print(stderr, "hvlab-handout: {} exists and is not empty (use --force to replace it)\n", dst.string());
      return 2;
    }
    // Only ever delete an earlier handout: --force with a wrong --dest must not wipe a folder.
    if (!fs::exists(dst / kMarker)) {
      fmt::print(stderr, "hvlab-handout: {} is not a handout (it has no {}); not replacing it\n", dst.string(), kMarker);
      return 2;
    }
    if (fs::equivalent(dst, src) || src.string().rfind(dst.string() + "/", 0) == 0) {
      fmt::print(stderr, "hvlab-handout: {} holds the source tree; not replacing it\n", dst.string());
      return 2;
    }
  }
  // The handout is written beside its destination and put in place only when it is whole: a
  // generation that stops half-way (a marker left open) leaves nothing a later --force would
  // refuse to replace.
  const fs::path final_dst = dst;
  dst = dst.parent_path() / ("." + dst.filename().string() + ".partial");
  fs::remove_all(dst);
  struct Abandon {
    const fs::path& stage;
    bool done = false;
    ~Abandon() {
      std::error_code ec;
      if (!done) fs::remove_all(stage, ec);
    }
  } abandon{dst};
  std::vector<std::string> globs;
  if (list.empty() && fs::exists(src / "tools/handout/instructor-only.txt")) list = (src / "tools/handout/instructor-only.txt").string();
  if (!list.empty()) {
    std::istringstream in(read_file(list));
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l[0] != '#') globs.push_back(l);
    }
  }

  auto files = git_files(src);
  if (files.empty()) {
    fmt::print(stderr, "hvlab-handout: no files found: is {} a git work tree?\n", src.string());
    return 2;
  }
  std::map<std::string, std::set<std::string, decltype(&natural_less)>> stripped_by_lab;
  std::map<std::string, int> regions_by_lab;
  int skipped = 0, written = 0, kept_regions = 0, leaks = 0;
  for (auto& rel : files) {
    fs::path in = src / rel;
    if (!fs::is_regular_file(in) || fs::is_symlink(in)) continue;
    std::string text = read_file(in);
    if (instructor_only(rel, text, globs)) {
      ++skipped;
      continue;
    }
    Outcome o = verbatim(text) ? Outcome{Processed{text, {}, {}}, ""} : process(rel, text, keep_upto);
    if (!o.ok) {
      fmt::print(stderr, "hvlab-handout: {}\n", o.error);
      return 1;
    }
    for (auto& r : o.ok->stripped) {
      const std::string lab = fmt::format("lab{:02}", r.lab);
      stripped_by_lab.try_emplace(lab, &natural_less).first->second.insert(r.exercise);
      ++regions_by_lab[lab];
    }
    // A stub calls HV_NOT_IMPLEMENTED: a C++ file that strips regions must see its header.
    if (!o.ok->stripped.empty() && syntax_for(rel) == Syntax::cpp &&
        text.find("common/runtime/exercise.hpp") == std::string::npos) {
      fmt::print(stderr,
                 "hvlab-handout: warning: {}: its stubs call HV_NOT_IMPLEMENTED, but it does not include "
                 "\"common/runtime/exercise.hpp\" (the handout may not compile)\n",
                 rel);
    }
    kept_regions += static_cast<int>(o.ok->regions.size() - o.ok->stripped.size());
    for (auto& l : leaked_lines(o.ok->stripped, text, o.ok->text)) {
      fmt::print(stderr, "hvlab-handout: {}: solution line left in the handout: {}\n", rel, l);
      ++leaks;
    }
    fs::path out = dst / rel;
    fs::create_directories(out.parent_path());
    std::ofstream(out, std::ios::binary) << o.ok->text;
    fs::permissions(out, fs::status(in).permissions());
    ++written;
  }
  if (leaks) return 1;

  fmt::print("hvlab-handout: {} files written to {}, {} instructor-only left out\n", written, final_dst.string(), skipped);
  for (auto& [lab, ids] : stripped_by_lab) {
    fmt::print("  {}: {} exercises ({} regions) stripped:", lab, ids.size(), regions_by_lab[lab]);
    for (auto& id : ids) fmt::print(" {}", id);
    fmt::print("\n");
  }
  if (kept_regions) fmt::print("  {} solution regions kept (labs up to {})\n", kept_regions, upto);

  std::ofstream(dst / kMarker) << "# A student tree generated by hvlab's handout generator (tools/handout).\n"
                                << "# autograder/grade and make handin read it; keep it.\n"
                                << "upto=" << upto << "\n"
                                << "source=" << git_head(src) << "\n";

  if (!no_git) {
    std::string q = "'" + dst.string() + "'";
    if (run("git -C " + q + " init -q -b main") != 0 || run("git -C " + q + " add -A") != 0 ||
        run("git -C " + q + " -c user.name=hvlab -c user.email=hvlab@localhost commit -q -m 'hvlab handout'") != 0) {
      fmt::print(stderr, "hvlab-handout: could not make {} a git repository\n", final_dst.string());
      return 1;
    }
    // Warns before a push to a public remote (tools/handout/pre-push).
    const fs::path hook_src = src / "tools/handout/pre-push";
    const fs::path hook = dst / ".git/hooks/pre-push";
    std::error_code ec;
    fs::copy_file(hook_src, hook, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      fmt::print(stderr, "hvlab-handout: warning: no pre-push hook installed ({}: {})\n", hook_src.string(), ec.message());
    } else {
      fs::permissions(hook, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
    }
  }
  std::error_code ec;
  fs::remove_all(final_dst, ec);
  fs::rename(dst, final_dst, ec);
  if (ec) {
    fmt::print(stderr, "hvlab-handout: cannot put the handout in place at {}: {}\n", final_dst.string(), ec.message());
    return 1;
  }
  abandon.done = true;
  return 0;
}

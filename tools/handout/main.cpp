// hvlab-handout: writes the student tree. See handout.hpp and labs/README.md.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
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

const char* kPrePushHook = R"(#!/bin/sh
# Installed by hvlab's handout generator: your solutions are graded work.
url="$2"
case "$url" in
  *github.com*|*gitlab.com*|*bitbucket.org*|*codeberg.org*)
    if [ -z "${HVLAB_ALLOW_PUBLIC_PUSH:-}" ]; then
      echo "hvlab: you are pushing to $url." >&2
      echo "hvlab: if that repository is public, your solutions become public too." >&2
      echo "hvlab: make sure it is private, then push again with HVLAB_ALLOW_PUBLIC_PUSH=1." >&2
      exit 1
    fi ;;
esac
exit 0
)";

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
  fs::path src = fs::absolute(source), dst = fs::absolute(dest);
  if (fs::exists(dst) && !fs::is_empty(dst)) {
    if (!force) {
      fmt::print(stderr, "hvlab-handout: {} exists and is not empty (use --force to replace it)\n", dst.string());
      return 2;
    }
    fs::remove_all(dst);
  }
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
  std::map<std::string, std::vector<std::string>> stripped_by_lab;
  int skipped = 0, written = 0, kept_regions = 0, leaks = 0;
  for (auto& rel : files) {
    fs::path in = src / rel;
    if (!fs::is_regular_file(in) || fs::is_symlink(in)) continue;
    std::string text = read_file(in);
    if (instructor_only(rel, text, globs)) {
      ++skipped;
      continue;
    }
    Outcome o = process(rel, text, keep_upto);
    if (!o.ok) {
      fmt::print(stderr, "hvlab-handout: {}\n", o.error);
      return 1;
    }
    for (auto& r : o.ok->stripped) stripped_by_lab[fmt::format("lab{:02}", r.lab)].push_back(r.exercise);
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

  fmt::print("hvlab-handout: {} files written to {}, {} instructor-only left out\n", written, dst.string(), skipped);
  for (auto& [lab, ids] : stripped_by_lab) {
    fmt::print("  {}: {} exercises stripped:", lab, ids.size());
    for (auto& id : ids) fmt::print(" {}", id);
    fmt::print("\n");
  }
  if (kept_regions) fmt::print("  {} solution regions kept (labs up to {})\n", kept_regions, upto);

  if (!no_git) {
    std::string q = "'" + dst.string() + "'";
    if (run("git -C " + q + " init -q -b main") != 0 || run("git -C " + q + " add -A") != 0 ||
        run("git -C " + q + " -c user.name=hvlab -c user.email=hvlab@localhost commit -q -m 'hvlab handout'") != 0) {
      fmt::print(stderr, "hvlab-handout: could not make {} a git repository\n", dst.string());
      return 1;
    }
    fs::path hook = dst / ".git/hooks/pre-push";
    std::ofstream(hook) << kPrePushHook;
    fs::permissions(hook, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  }
  return 0;
}

// hvlab-compare: the lecture's table of virtualization techniques, with the cells each lab
// measured itself. It asks every lab folder for its figures (tools/compare/README.md: the
// contract), and writes build/compare/table.md, table.json and a plot. A lab that has no
// figures yet has its row marked "not measured yet"; a new lab's figures appear without any
// change here.
//
//   hvlab-compare --source DIR --build-dir DIR [--out DIR] [-j N] [--quick] [--narrow]

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The lecture's techniques, in its order, with the lab that builds each.
struct Technique {
  const char* lab;
  const char* name;
};
constexpr Technique kTechniques[] = {
    {"lab01", "trap and emulate (deprivileged guest kernel)"},
    {"lab02", "full virtualization: binary translation"},
    {"lab03", "paravirtualization: hypercalls"},
    {"lab04", "hardware assist, bare metal (type 1): VT-x, AMD-V"},
    {"lab05", "hardware assist, hosted (type 2): KVM"},
};

std::string run_capture(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = pclose(p);
  *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string cell(const json& row, const char* key) {
  if (!row.contains(key) || row[key].is_null()) return "n/a";
  const json& v = row[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string time_cell(const json& row) {
  if (!row.contains("bench") || !row["bench"].is_object()) return "n/a";
  const json& b = row["bench"];
  return fmt::format("{:.1f} us median ({:.1f}-{:.1f}); bare KVM_RUN {:.1f} us; ratio {:.2f}",
                     b["vmm_us"]["median"].get<double>(), b["vmm_us"]["min"].get<double>(),
                     b["vmm_us"]["max"].get<double>(), b["bare_us"]["median"].get<double>(), b["ratio"].get<double>());
}

// The short cells of the narrow table (80 columns, and the deck's slide).
std::string short_time(const json& row) {
  if (!row.contains("bench") || !row["bench"].is_object()) return "n/a";
  const json& b = row["bench"];
  return fmt::format("{:.1f} us x{:.2f}", b["vmm_us"]["median"].get<double>(), b["ratio"].get<double>());
}

std::string fit(std::string s, std::size_t w) {
  if (s.size() > w) s = s.substr(0, w - 1) + "~";
  return s;
}

constexpr const char* kNotHere = "not runnable here: ";

std::string md(std::string s) {
  for (std::size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\|");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The lecture's comparison table, measured: build/compare/table.md, table.json, plot.svg"};
  std::string source = ".", build = "build", out;
  unsigned jobs = 1;
  bool quick = false, narrow = false;
  app.add_option("--source", source, "the tree")->capture_default_str();
  app.add_option("--build-dir", build, "the build folder")->capture_default_str();
  app.add_option("--out", out, "where the table goes (default BUILD/compare)");
  app.add_option("-j,--jobs", jobs, "labs measured at the same time")->check(CLI::Range(1u, 16u))->capture_default_str();
  app.add_flag("--quick", quick,
               "fewer timing rounds (HVLAB_COMPARE_QUICK=1 for the labs' scripts): a wider spread, the same "
               "-icount counts");
  app.add_flag("--narrow", narrow, "print the table in 80 columns (table-narrow.md is written anyway)");
  CLI11_PARSE(app, argc, argv);
  if (quick) setenv("HVLAB_COMPARE_QUICK", "1", 1);
  if (out.empty()) out = (fs::path(build) / "compare").string();
  fs::create_directories(out);
  const std::string build_abs = fs::absolute(build).string();

  // Each lab's script, up to `jobs` at a time; the rows keep the lecture's order.
  struct Figures {
    bool present = false;
    int status = 0;
    std::string text;
  };
  std::vector<std::future<Figures>> running;
  for (const Technique& t : kTechniques) {
    fs::path folder;
    for (const auto& e : fs::directory_iterator(source))
      if (e.is_directory() && e.path().filename().string().rfind(std::string(t.lab) + "-", 0) == 0) folder = e.path();
    const fs::path script = folder / "tools" / "figures.sh";
    if (folder.empty() || !fs::exists(script)) {
      std::promise<Figures> none;
      none.set_value({});
      running.push_back(none.get_future());
      continue;
    }
    if (running.size() >= jobs) running[running.size() - jobs].wait();
    fmt::print(stderr, "hvlab-compare: {}: {}\n", t.lab, script.string());
    running.push_back(std::async(std::launch::async, [script, build_abs] {
      Figures f;
      f.present = true;
      f.text = run_capture("sh " + shell_quote(script.string()) + " " + shell_quote(build_abs), &f.status);
      return f;
    }));
  }

  json rows = json::array();
  for (std::size_t i = 0; i < running.size(); ++i) {
    const Technique& t = kTechniques[i];
    const Figures fig = running[i].get();
    if (!fig.present) {
      rows.push_back({{"lab", t.lab}, {"technique", t.name}, {"config", ""}, {"measured", false},
                      {"note", "not measured yet"}});
      continue;
    }
    const int status = fig.status;
    json got = json::parse(fig.text, nullptr, false);
    if (status != 0 || got.is_discarded() || !got.contains("rows")) {
      rows.push_back({{"lab", t.lab}, {"technique", t.name}, {"config", ""}, {"measured", false},
                      {"note", fmt::format("its figures failed (status {})", status)}});
      continue;
    }
    for (json r : got["rows"]) {
      r["measured"] = true;
      if (!r.contains("technique")) r["technique"] = t.name;
      rows.push_back(r);
    }
  }

  std::ofstream(fs::path(out) / "table.json") << json{{"rows", rows}}.dump(2) << "\n";
  std::string table =
      "| lab | technique | configuration | guest changes | suite passed | monitor entries per test | cost per exit "
      "| where exits are handled | monitor lines |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const json& r : rows) {
    if (!r["measured"].get<bool>()) {
      table += fmt::format("| {} | {} | | {} | | | | | |\n", md(cell(r, "lab")), md(cell(r, "technique")),
                           md(cell(r, "note")));
      continue;
    }
    table += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", md(cell(r, "lab")),
                         md(cell(r, "technique")), md(cell(r, "config")), md(cell(r, "guest_changes")),
                         md(cell(r, "suite_pass")), md(cell(r, "entries_per_test")), md(time_cell(r)),
                         md(cell(r, "handled")), md(cell(r, "monitor_loc")));
  }
  std::ofstream(fs::path(out) / "table.md") << "# The techniques compared, measured on this machine\n\n" << table;

  // The narrow table: the columns a slide and an 80-column terminal hold, each reason a
  // row could not be measured in a note under it.
  std::string slim = "| lab | configuration | guest changes | suite passed | entries per test | cost per exit |\n"
                     "|---|---|---|---|---|---|\n";
  std::string text = fmt::format("{:<5}  {:<27}  {:<7}  {:<8}  {:>8}  {}\n", "lab", "configuration", "changes",
                                 "suite", "ent/test", "cost per exit");
  std::vector<std::string> notes;
  std::string absent;  // the slide lists labs without figures in one line, not as empty rows
  for (const json& r : rows) {
    const std::string lab = cell(r, "lab");
    if (!r["measured"].get<bool>()) {
      absent += fmt::format("{}{} ({})", absent.empty() ? "" : ", ", lab, cell(r, "technique"));
      text += fmt::format("{:<5}  {:<27}  {}\n", lab, fit(cell(r, "technique"), 27), cell(r, "note"));
      continue;
    }
    std::string suite = cell(r, "suite_pass");
    if (suite.rfind(kNotHere, 0) == 0) {
      const std::string why = suite.substr(std::string(kNotHere).size());
      if (std::find(notes.begin(), notes.end(), lab + ": " + why) == notes.end()) notes.push_back(lab + ": " + why);
      suite = "not here";
    }
    const std::string config = r.contains("config") && !cell(r, "config").empty() ? cell(r, "config") : cell(r, "technique");
    slim += fmt::format("| {} | {} | {} | {} | {} | {} |\n", md(lab), md(config), md(cell(r, "guest_changes")),
                        md(suite), md(cell(r, "entries_per_test")), md(short_time(r)));
    text += fmt::format("{:<5}  {:<27}  {:<7}  {:<8}  {:>8}  {}\n", lab, fit(config, 27),
                        fit(cell(r, "guest_changes"), 7), fit(suite, 8), fit(cell(r, "entries_per_test"), 8),
                        short_time(r));
  }
  std::string slim_notes;
  for (const auto& n : notes) slim_notes += "\nNot runnable here, " + md(n.substr(0, n.find(" ("))) + ".\n";
  if (!absent.empty()) slim_notes += "\nNo figures yet from " + md(absent) + ".\n";
  std::ofstream(fs::path(out) / "table-narrow.md") << slim << slim_notes;

  // The plot: cost per exit of every row that measured one.
  std::ofstream dat(fs::path(out) / "plot.dat");
  unsigned n = 0;
  for (const json& r : rows)
    if (r["measured"].get<bool>() && r.contains("bench") && r["bench"].is_object())
      dat << n++ << " \"" << cell(r, "lab") << " " << cell(r, "config") << "\" "
          << r["bench"]["vmm_us"]["median"].get<double>() << " " << r["bench"]["bare_us"]["median"].get<double>()
          << "\n";
  dat.close();
  std::ofstream gp(fs::path(out) / "plot.gp");
  gp << "set terminal svg size 900,400\nset output 'plot.svg'\nset style data histograms\n"
        "set style fill solid\nset ylabel 'microseconds per exit (median)'\nset xtics rotate by -15\n"
        "plot 'plot.dat' using 3:xtic(2) title 'through the VMM', '' using 4 title 'bare KVM_RUN loop'\n";
  gp.close();
  int status = 0;
  if (n > 0) run_capture("cd " + shell_quote(out) + " && gnuplot plot.gp 2>&1", &status);
  if (narrow) {
    fmt::print("{}", text);
    for (const auto& n : notes) fmt::print("not runnable here, {}\n", n);
  } else {
    fmt::print("{}\n", table);
  }
  fmt::print(narrow ? stderr : stdout, "hvlab-compare: {}/table.md, table.json{}\n", out,
             n > 0 && status == 0 ? ", plot.svg" : "");
  return 0;
}

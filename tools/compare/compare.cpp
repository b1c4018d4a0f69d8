// hvlab-compare: the lecture's table of virtualization techniques, with the cells each lab
// measured itself. It asks every lab folder for its figures (tools/compare/README.md: the
// contract), and writes build/compare/table.md, table.json and a plot. A lab that has no
// figures yet has its row marked "not measured yet"; a new lab's figures appear without any
// change here.
//
//   hvlab-compare --source DIR --build-dir DIR [--out DIR] [-j N] [--quick] [--narrow] [--cached]
//
// Every lab it measures, it keeps in BUILD/compare/cache/LAB.json. With --cached (the
// lecture's demo) a lab whose kept figures are newer than everything its script runs (the
// lab's build products, the guests, the boot runner, the scripts) is not measured again.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // the labs' keys keep their order

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

// The narrow table's cost: the time per exit (lab05), else the instructions of a null system
// call under QEMU -icount, the guest's and the monitor's.
std::string short_cost(const json& row) {
  if (row.contains("bench") && row["bench"].is_object()) return short_time(row);
  if (row.contains("icount_per_op") && row["icount_per_op"].is_object() && row["icount_per_op"].contains("syscall"))
    return fmt::format("{} i/syscall", row["icount_per_op"]["syscall"].dump());
  return "n/a";
}

// The wide table's instructions per operation: every benchmark but the plain call.
std::string icount_cell(const json& row) {
  if (!row.contains("icount_per_op") || !row["icount_per_op"].is_object()) return "n/a";
  std::string cell;
  for (const auto& [op, n] : row["icount_per_op"].items())
    if (op != "call_ret") cell += fmt::format("{}{} {}", cell.empty() ? "" : ", ", op, n.dump());
  return cell.empty() ? "n/a" : cell;
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

// ---- The cache of each lab's figures ---------------------------------------------------------

// The newest modification time among what a lab's script runs: the programs of its own build
// folder (monitor.elf, hvlab-kvm, ...), the guests and their report tool, the boot runner,
// and the scripts.
fs::file_time_type newest_input(const fs::path& folder, const fs::path& script, const fs::path& source,
                                const fs::path& build) {
  auto newest = fs::last_write_time(script);
  std::error_code ec;
  auto consider = [&](const fs::path& p) {
    const auto t = fs::last_write_time(p, ec);
    if (!ec && t > newest) newest = t;
  };
  auto programs_in = [&](const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec) && (e.status(ec).permissions() & fs::perms::owner_exec) != fs::perms::none)
        consider(e.path());
  };
  programs_in(build / folder.filename());
  programs_in(build / "autograder" / "guests");
  consider(build / "autograder" / "runner" / "hvlab-boot");
  for (const auto& e : fs::directory_iterator(source / "tools" / "compare", ec))
    if (e.path().extension() == ".sh") consider(e.path());
  return newest;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The lecture's comparison table, measured: build/compare/table.md, table.json, plot.svg"};
  std::string source = ".", build = "build", out;
  unsigned jobs = 1;
  bool quick = false, narrow = false, cached = false;
  app.add_option("--source", source, "the tree")->capture_default_str();
  app.add_option("--build-dir", build, "the build folder")->capture_default_str();
  app.add_option("--out", out, "where the table goes (default BUILD/compare)");
  app.add_option("-j,--jobs", jobs, "labs measured at the same time")->check(CLI::Range(1u, 16u))->capture_default_str();
  app.add_flag("--quick", quick,
               "fewer timing rounds (HVLAB_COMPARE_QUICK=1 for the labs' scripts): a wider spread, the same "
               "-icount counts");
  app.add_flag("--narrow", narrow, "print the table in 80 columns (table-narrow.md is written anyway)");
  app.add_flag("--cached", cached,
               "take a lab's figures from BUILD/compare/cache when they are newer than its build, the guests "
               "and the scripts; measure the others");
  CLI11_PARSE(app, argc, argv);
  if (quick) setenv("HVLAB_COMPARE_QUICK", "1", 1);
  if (out.empty()) out = (fs::path(build) / "compare").string();
  fs::create_directories(out);
  const std::string build_abs = fs::absolute(build).string();
  const fs::path cache = fs::path(build_abs) / "compare" / "cache";
  fs::create_directories(cache);
  const std::string by = quick ? "quick run" : "make compare";

  // Each lab's script, up to `jobs` at a time; the rows keep the lecture's order.
  struct Figures {
    bool present = false;
    int status = 0;
    std::string text;
    json kept;  ///< from the cache: {"measured_at", "by", "figures"}
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
    const fs::path kept_file = cache / (std::string(t.lab) + ".json");
    if (cached && fs::exists(kept_file) &&
        fs::last_write_time(kept_file) > newest_input(folder, script, source, build_abs)) {
      json kept = json::parse(std::ifstream(kept_file), nullptr, false);
      if (kept.is_object() && kept.contains("figures") && kept["figures"].contains("rows")) {
        fmt::print(stderr, "hvlab-compare: {}: kept figures, {} ({})\n", t.lab, kept_file.string(),
                   kept.value("measured_at", "?"));
        std::promise<Figures> from_cache;
        from_cache.set_value({true, 0, "", kept});
        running.push_back(from_cache.get_future());
        continue;
      }
    }
    // No more than `jobs` scripts at a time.
    for (;;) {
      const auto busy = std::count_if(running.begin(), running.end(), [](const std::future<Figures>& f) {
        return f.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
      });
      if (static_cast<unsigned>(busy) < jobs) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
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
    Figures fig = running[i].get();
    if (!fig.present) {
      rows.push_back({{"lab", t.lab}, {"technique", t.name}, {"config", ""}, {"measured", false},
                      {"note", "not measured yet"}});
      continue;
    }
    const int status = fig.status;
    const bool from_cache = !fig.kept.is_null();
    json got = from_cache ? fig.kept["figures"] : json::parse(fig.text, nullptr, false);
    if (status != 0 || got.is_discarded() || !got.contains("rows")) {
      rows.push_back({{"lab", t.lab}, {"technique", t.name}, {"config", ""}, {"measured", false},
                      {"note", fmt::format("its figures failed (status {})", status)}});
      continue;
    }
    json kept = from_cache ? fig.kept : json{{"measured_at", utc_now()}, {"by", by}, {"figures", got}};
    if (!from_cache) {  // written whole, then renamed: a run reading the cache meanwhile sees old or new
      const fs::path kept_file = cache / (std::string(t.lab) + ".json");
      const fs::path part = kept_file.string() + fmt::format(".{}.part", getpid());
      std::ofstream(part) << kept.dump() << "\n";
      std::error_code ec;
      fs::rename(part, kept_file, ec);
    }
    for (json r : got["rows"]) {
      r["measured"] = true;
      if (!r.contains("technique")) r["technique"] = t.name;
      r["source"] = from_cache ? "kept (" + kept.value("by", std::string("?")) : "measured now";
      r["measured_at"] = kept.value("measured_at", std::string("?"));
      rows.push_back(r);
    }
  }

  std::ofstream(fs::path(out) / "table.json") << json{{"rows", rows}}.dump(2) << "\n";
  std::string table =
      "| lab | technique | configuration | guest changes | suite passed | monitor entries per test | cost per exit "
      "| instructions per operation (QEMU -icount) | where exits are handled | monitor lines | figures |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const json& r : rows) {
    if (!r["measured"].get<bool>()) {
      table += fmt::format("| {} | {} | | {} | | | | | | | |\n", md(cell(r, "lab")), md(cell(r, "technique")),
                           md(cell(r, "note")));
      continue;
    }
    table += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", md(cell(r, "lab")),
                         md(cell(r, "technique")), md(cell(r, "config")), md(cell(r, "guest_changes")),
                         md(cell(r, "suite_pass")), md(cell(r, "entries_per_test")), md(time_cell(r)),
                         md(icount_cell(r)), md(cell(r, "handled")), md(cell(r, "monitor_loc")),
                         md(cell(r, "source")));
  }
  std::ofstream(fs::path(out) / "table.md") << "# The techniques compared, measured on this machine\n\n" << table;

  // The narrow table: the columns a slide and an 80-column terminal hold, each reason a
  // row could not be measured in a note under it.
  // pandoc gives a wide pipe table's columns the widths of its separator's dashes.
  std::string slim = "| lab | configuration | guest changes | suite passed | entries per test | cost |\n"
                     "|-----|--------------------------|-----------------|--------|--------|---------------|\n";
  std::string text = fmt::format("{:<5}  {:<26}  {:<8}  {:<8}  {:>8} {}\n", "lab", "configuration", "changes",
                                 "suite", "ent/test", "cost");
  // Which labs were measured now and which kept figures were used (and the oldest of them).
  struct Source {
    std::string labs, what, oldest;
  };
  std::vector<Source> sources;
  std::vector<std::string> notes;
  std::string absent;  // the slide lists labs without figures in one line, not as empty rows
  for (const json& r : rows) {
    const std::string lab = cell(r, "lab");
    if (!r["measured"].get<bool>()) {
      absent += fmt::format("{}{} ({})", absent.empty() ? "" : ", ", lab, cell(r, "technique"));
      text += fmt::format("{:<5}  {:<26}  {}\n", lab, fit(cell(r, "technique"), 26), cell(r, "note"));
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
                        md(suite), md(cell(r, "entries_per_test")), md(short_cost(r)));
    std::string changes = cell(r, "guest_changes");
    if (auto pv = changes.find("paravirtual"); pv != std::string::npos) changes.replace(pv, 11, "PV");
    text += fmt::format("{:<5}  {:<26}  {:<8}  {:<8}  {:>8} {}\n", lab, fit(config, 26), fit(changes, 8),
                        fit(suite, 8), fit(cell(r, "entries_per_test"), 8),
                        fit(short_cost(r), 15));
    const std::string source = cell(r, "source"), at = cell(r, "measured_at");
    auto same = std::find_if(sources.begin(), sources.end(), [&](const Source& s) { return s.what == source; });
    if (same == sources.end()) {
      sources.push_back({lab, source, at});
    } else {
      if (same->labs.find(lab) == std::string::npos) same->labs += ", " + lab;
      same->oldest = std::min(same->oldest, at);
    }
  }
  const std::string legend =
      "cost: time per exit through the VMM (x: against a bare KVM_RUN loop), or the instructions of a null "
      "system call, the guest's and the monitor's (QEMU -icount)";
  const std::string short_legend =
      "cost: time per exit (x: against a bare KVM_RUN loop), or instructions per null system call (QEMU -icount)";
  std::string source_lines;
  for (const auto& src : sources)
    source_lines += src.what == "measured now" ? fmt::format("measured now: {}\n", src.labs)
                                               : fmt::format("{}, {}): {}\n", src.what, src.oldest, src.labs);
  std::string slim_notes = "\n" + md(short_legend) + ".\n";
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
    fmt::print("{}\n{}", legend, source_lines);
  } else {
    fmt::print("{}\n", table);
  }
  fmt::print(narrow ? stderr : stdout, "hvlab-compare: {}/table.md, table.json{}\n", out,
             n > 0 && status == 0 ? ", plot.svg" : "");
  return 0;
}

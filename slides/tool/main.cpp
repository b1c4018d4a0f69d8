// hvlab-demo: turns what a demo's run captured (COM1, COM2, the emulator's log) into what the
// lecture hall sees, at most 80 columns, in colour on a terminal; or, with --figures DIR,
// into the Markdown figures the deck includes. slides/demos/*.sh run the kernels and call it.

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "slides/tool/census.hpp"
#include "slides/tool/entry.hpp"
#include "slides/tool/screen.hpp"
#include "slides/tool/trace.hpp"

namespace {

namespace demo = hvlab::demo;
using Figures = std::vector<std::pair<std::string, std::string>>;

int fail(const std::string& what) {
  std::fflush(stdout);
  fmt::print(stderr, "hvlab-demo: {}\n", what);
  return 1;
}

std::string read_or_empty(const std::string& path, bool* ok, std::string* error) {
  std::string text;
  if (!path.empty() && !demo::read_file(path, &text, error)) *ok = false;
  return text;
}

int emit(const std::string& figures_dir, const Figures& figures) {
  std::string error;
  for (const auto& [name, markdown] : figures) {
    if (!demo::write_figure(figures_dir, name, markdown, &error)) return fail(error);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Shows a demo's captured run on the terminal (80 columns), or writes the deck's figures."};
  app.name("hvlab-demo");
  app.require_subcommand(1);
  std::string colour = "auto", figures;
  app.add_option("--color", colour, "Colour: auto (a terminal, no NO_COLOR), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--figures", figures, "Write the deck's figures (Markdown) into this folder instead");

  std::string com1, com2, emulator_log, test, breakage;
  auto* census = app.add_subcommand("census", "lab01's instruction census (its COM1)");
  census->add_option("--com1", com1, "The census kernel's COM1 output")->required();
  auto* trap = app.add_subcommand("trap", "lab01's trap trace");
  auto* vmexit = app.add_subcommand("vmexit", "lab04's VM-exit trace");
  for (auto* sub : {trap, vmexit}) {
    sub->add_option("--com1", com1, "The guest's COM1 output (KTAP)")->required();
    sub->add_option("--com2", com2, "The monitor's event trace (COM2)")->required();
    sub->add_option("--test", test, "The suite's only= test, if one");
  }
  auto* entry = app.add_subcommand("entry-fail", "lab04 with a broken VMCS");
  entry->add_option("--com1", com1, "The monitor's COM1 output")->required();
  entry->add_option("--emulator-log", emulator_log, "Bochs' log");
  entry->add_option("--break", breakage, "The break= option the monitor ran with")->required();
  CLI11_PARSE(app, argc, argv);

  std::string error;
  bool ok = true;
  std::string com1_text = read_or_empty(com1, &ok, &error);
  std::string com2_text = read_or_empty(com2, &ok, &error);
  std::string log_text = read_or_empty(emulator_log, &ok, &error);
  if (!ok) return fail(error);
  demo::Screen screen(demo::Screen::colour_wanted(colour));

  if (*census) {
    auto r = demo::parse_census(com1_text, &error);
    if (!r) return fail(error);
    if (!figures.empty()) return emit(figures, demo::census_figures(*r));
    demo::show_census(*r, screen);
  } else if (*trap || *vmexit) {
    demo::Trace t = demo::parse_trace(com2_text);
    if (t.events.empty()) return fail("the monitor's trace (COM2) holds no trap or exit record");
    if (!t.summary) return fail("the monitor's trace (COM2) has no closing summary record");
    demo::Ktap k = demo::parse_ktap(com1_text);
    if (*trap) {
      if (!figures.empty()) return emit(figures, demo::trap_figures(t, k, test));
      demo::show_trap(t, k, test, screen);
    } else {
      if (!figures.empty()) return emit(figures, demo::vmexit_figures(t, k, test));
      demo::show_vmexit(t, k, test, screen);
    }
  } else if (*entry) {
    auto f = demo::parse_entry_failure(com1_text, log_text, &error);
    if (!f) return fail(error);
    if (!figures.empty()) return emit(figures, demo::entry_failure_figures(*f, breakage));
    demo::show_entry_failure(*f, breakage, screen);
  }
  return 0;
}

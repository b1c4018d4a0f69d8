#include "autograder/grader/rubric.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace hvlab::grader {
namespace {

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "something else";
}

// Reads one TOML table, remembering which keys were used so that a misspelt key
// ("poinst") is an error instead of a silently ignored line.
class Reader {
 public:
  // `allowed` lists every key the table may hold; any other is reported at once, before a
  // "missing" error for the key it was probably meant to be.
  Reader(const toml::table& table, std::string where, std::string_view source,
         std::initializer_list<std::string_view> allowed)
      : table_(table), where_(std::move(where)), source_(source) {
    for (auto&& [k, v] : table_) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
        fail(&v, k.str(), fmt::format("unknown key (the keys here are: {})", list));
      }
    }
  }

  [[noreturn]] void fail(const toml::node* at, std::string_view key, std::string_view msg) const {
    std::size_t line = at ? at->source().begin.line : table_.source().begin.line;
    std::string loc = line ? fmt::format("{}:{}", source_, line) : std::string(source_);
    if (key.empty())
      throw RubricError(fmt::format("{}: {}: {}", loc, where_, msg));
    throw RubricError(fmt::format("{}: {}, key '{}': {}", loc, where_, key, msg));
  }

  const toml::node* node(std::string_view key) {
    return table_.get(key);
  }

  std::optional<std::string> str(std::string_view key, bool required = false) {
    const toml::node* n = node(key);
    if (!n) {
      if (required) fail(nullptr, key, "missing (a string is required)");
      return std::nullopt;
    }
    if (!n->is_string()) fail(n, key, fmt::format("expected a string, found {}", type_name(n->type())));
    return n->value<std::string>();
  }

  std::optional<double> number(std::string_view key, bool required = false) {
    const toml::node* n = node(key);
    if (!n) {
      if (required) fail(nullptr, key, "missing (a number is required)");
      return std::nullopt;
    }
    if (!n->is_number()) fail(n, key, fmt::format("expected a number, found {}", type_name(n->type())));
    return n->value<double>();
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(n, key, fmt::format("expected an integer, found {}", type_name(n->type())));
    std::int64_t v = *n->value<std::int64_t>();
    if (v < lo || v > hi) fail(n, key, fmt::format("{} is out of range ({} to {})", v, lo, hi));
    return v;
  }

  std::optional<bool> boolean(std::string_view key) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(n, key, fmt::format("expected true or false, found {}", type_name(n->type())));
    return n->value<bool>();
  }

  // A string or an array of strings.
  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    std::vector<std::string> out;
    if (n->is_string()) {
      out.push_back(*n->value<std::string>());
      return out;
    }
    const toml::array* a = n->as_array();
    if (!a) fail(n, key, fmt::format("expected a string or an array of strings, found {}", type_name(n->type())));
    for (const toml::node& e : *a) {
      if (!e.is_string()) fail(&e, key, fmt::format("expected strings in the array, found {}", type_name(e.type())));
      out.push_back(*e.value<std::string>());
    }
    return out;
  }

  // Tables in an array of tables ([[x]] or x = [ {...}, {...} ]).
  std::vector<const toml::table*> tables(std::string_view key) {
    std::vector<const toml::table*> out;
    const toml::node* n = node(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) fail(n, key, fmt::format("expected an array of tables, found {}", type_name(n->type())));
    for (const toml::node& e : *a) {
      const toml::table* t = e.as_table();
      if (!t) fail(&e, key, fmt::format("expected tables in the array, found {}", type_name(e.type())));
      out.push_back(t);
    }
    return out;
  }

  const toml::table* table(std::string_view key, bool required) {
    const toml::node* n = node(key);
    if (!n) {
      if (required) fail(nullptr, key, "missing (a table is required)");
      return nullptr;
    }
    const toml::table* t = n->as_table();
    if (!t) fail(n, key, fmt::format("expected a table, found {}", type_name(n->type())));
    return t;
  }

  const std::string& where() const { return where_; }
  std::string_view source() const { return source_; }

 private:
  const toml::table& table_;
  std::string where_;
  std::string_view source_;
};

template <typename T>
T pick(Reader& r, std::string_view key, std::optional<std::string> value, T fallback,
       std::initializer_list<std::pair<std::string_view, T>> choices) {
  if (!value) return fallback;
  std::string names;
  for (auto& [name, v] : choices) {
    if (*value == name) return v;
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", name);
  }
  r.fail(r.node(key), key, fmt::format("'{}' is not one of {}", *value, names));
}

std::vector<Emulator> read_emulators(Reader& r, std::string_view key) {
  std::vector<Emulator> out;
  auto names = r.strings(key);
  if (!names) return out;
  for (const auto& n : *names) {
    auto e = parse_emu(n);
    if (!e) r.fail(r.node(key), key, fmt::format("unknown emulator '{}' (qemu or bochs)", n));
    if (std::find(out.begin(), out.end(), *e) == out.end()) out.push_back(*e);
  }
  if (out.empty()) r.fail(r.node(key), key, "the list is empty");
  return out;
}

nlohmann::json filter_value(Reader& r, std::string_view key, const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return *n.value<std::string>();
    case toml::node_type::integer: return *n.value<std::int64_t>();
    case toml::node_type::floating_point: return *n.value<double>();
    case toml::node_type::boolean: return *n.value<bool>();
    case toml::node_type::array: {
      nlohmann::json out = nlohmann::json::array();
      for (const toml::node& e : *n.as_array()) {
        if (e.is_array() || e.is_table()) r.fail(&e, key, "nested arrays and tables are not filters");
        out.push_back(filter_value(r, key, e));
      }
      return out;
    }
    default:
      r.fail(&n, key, fmt::format("a filter value must be a string, number, boolean or array, found {}",
                                  type_name(n.type())));
  }
}

std::vector<EventAssertion> read_events(Reader& parent, std::string_view source) {
  std::vector<EventAssertion> out;
  std::size_t i = 0;
  for (const toml::table* t : parent.tables("events")) {
    ++i;
    Reader r(*t, fmt::format("{}, events #{}", parent.where(), i), source,
             {"where", "min", "max", "sum", "description"});
    EventAssertion a;
    if (const toml::table* where = r.table("where", false)) {
      for (auto&& [k, v] : *where) a.where.emplace_back(std::string(k.str()), filter_value(r, k.str(), v));
    }
    a.min = r.number("min");
    a.max = r.number("max");
    a.sum = r.str("sum").value_or("");
    a.description = r.str("description").value_or("");
    if (!a.min && !a.max) r.fail(nullptr, "", "give 'min', 'max' or both");
    if (a.min && a.max && *a.min > *a.max) r.fail(r.node("max"), "max", "is below 'min'");
    out.push_back(std::move(a));
  }
  return out;
}

void read_lab(Rubric& rb, Reader& top, std::string_view source) {
  const toml::table* lab = top.table("lab", true);
  Reader r(*lab, "[lab]", source,
           {"name", "title", "folder", "monitor", "monitor_cmdline", "emulators", "timeout", "max_boots",
            "memory_mib", "output_limit", "qemu_cpu", "execution_evidence", "requires", "order"});
  rb.name = *r.str("name", true);
  if (rb.name.empty() || rb.name.find_first_of("/ \t") != std::string::npos)
    r.fail(r.node("name"), "name", "must be a non-empty word");
  rb.title = r.str("title").value_or(rb.name);
  rb.folder = r.str("folder").value_or("");
  if (auto m = r.str("monitor")) {
    if (*m == "none") rb.monitor.reset();
    else if (m->empty()) r.fail(r.node("monitor"), "monitor", "empty: write \"none\" to boot the guest bare");
    else rb.monitor = *m;
  } else if (!rb.folder.empty()) {
    rb.monitor = rb.folder + "/monitor.elf";
  } else {
    r.fail(nullptr, "monitor", "missing: give a monitor image, or \"none\" to boot the guest bare");
  }
  rb.monitor_cmdline = r.str("monitor_cmdline").value_or("");
  if (const toml::node* req = r.node("requires")) {
    const toml::array* a = req->as_array();
    if (!a) r.fail(req, "requires", "expected an array of names, such as [\"kvm\"]");
    for (const toml::node& n : *a) {
      auto v = n.value<std::string>();
      if (!v || *v != "kvm") r.fail(&n, "requires", "unknown requirement (known: \"kvm\")");
      rb.requirements.push_back(*v);
    }
  }
  rb.emulators = read_emulators(r, "emulators");
  if (rb.emulators.empty()) rb.emulators = {Emulator::qemu, Emulator::bochs};

  rb.timeout_seconds = {{Emulator::qemu, 30.0}, {Emulator::bochs, 120.0}, {Emulator::host, 30.0}};
  if (const toml::node* t = r.node("timeout")) {
    auto check = [&](const toml::node& n, std::string_view key) {
      if (!n.is_number()) r.fail(&n, key, fmt::format("expected seconds, found {}", type_name(n.type())));
      double s = *n.value<double>();
      if (!(s > 0 && s <= 3600)) r.fail(&n, key, "must be more than 0 and at most 3600 seconds");
      return s;
    };
    if (const toml::table* per = t->as_table()) {
      for (auto&& [k, v] : *per) {
        auto e = parse_emu(k.str());
        if (!e) r.fail(&v, "timeout", fmt::format("unknown emulator '{}' (qemu, bochs or host)", k.str()));
        rb.timeout_seconds[*e] = check(v, "timeout");
      }
    } else {
      double s = check(*t, "timeout");
      for (auto& [e, v] : rb.timeout_seconds) v = s;
    }
  }
  if (auto v = r.integer("max_boots", 1, 1000)) rb.max_boots = static_cast<unsigned>(*v);
  if (auto v = r.integer("memory_mib", 4, 4096)) rb.memory_mib = static_cast<unsigned>(*v);
  if (auto v = r.integer("output_limit", 1024, std::int64_t{1} << 30)) rb.output_limit = static_cast<std::size_t>(*v);
  rb.qemu_cpu = r.str("qemu_cpu").value_or("max");
  if (auto v = r.boolean("execution_evidence")) rb.execution_evidence = *v;
  rb.order = r.strings("order").value_or(std::vector<std::string>{});
  for (std::size_t i = 0; i < rb.order.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (rb.order[i] == rb.order[j]) r.fail(r.node("order"), "order", fmt::format("names {} twice", rb.order[i]));
}

}  // namespace

const char* visibility_name(Visibility v) {
  switch (v) {
    case Visibility::visible: return "visible";
    case Visibility::hidden: return "hidden";
    case Visibility::after_due_date: return "after_due_date";
    case Visibility::after_published: return "after_published";
  }
  return "visible";
}

const char* expect_name(Expect e) { return e == Expect::pass ? "pass" : "fail"; }

const char* emu_name(Emulator e) { return e == Emulator::qemu ? "qemu" : e == Emulator::bochs ? "bochs" : "host"; }

std::optional<Emulator> parse_emu(std::string_view name) {
  if (name == "qemu") return Emulator::qemu;
  if (name == "bochs") return Emulator::bochs;
  if (name == "host") return Emulator::host;
  return std::nullopt;
}

bool TestEntry::is_glob() const { return pattern.find_first_of("*?[") != std::string::npos; }

bool TestEntry::matches(std::string_view guest_image, std::string_view test) const {
  if (!guest.empty() && guest != guest_image) return false;
  if (!is_glob()) return pattern == test;
  return fnmatch(pattern.c_str(), std::string(test).c_str(), 0) == 0;
}

bool TestEntry::runs_on(Emulator e) const {
  return emulators.empty() || std::find(emulators.begin(), emulators.end(), e) != emulators.end();
}

bool CheckEntry::runs_on(Emulator e) const {
  return emulators.empty() || std::find(emulators.begin(), emulators.end(), e) != emulators.end();
}

bool GuestImage::runs_on(Emulator e) const {
  return emulators.empty() || std::find(emulators.begin(), emulators.end(), e) != emulators.end();
}

bool Rubric::runs_on(Emulator e) const {
  return std::find(emulators.begin(), emulators.end(), e) != emulators.end();
}

std::size_t TestEntry::specificity() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '*' || pattern[i] == '?') continue;
    if (pattern[i] == '[') {
      std::size_t close = pattern.find(']', i + 2);
      if (close != std::string::npos) i = close;
    }
    ++n;
  }
  return n;
}

const TestEntry* Rubric::entry_for(std::string_view guest_image, std::string_view test) const {
  for (const auto& t : tests)
    if (!t.is_glob() && t.matches(guest_image, test)) return &t;
  const TestEntry* best = nullptr;
  for (const auto& t : tests)
    if (t.is_glob() && t.matches(guest_image, test) && (!best || t.specificity() > best->specificity())) best = &t;
  return best;
}

Rubric parse_rubric(std::string_view text, std::string_view source) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw RubricError(fmt::format("{}:{}:{}: not valid TOML: {}", source, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  Rubric rb;
  rb.file = std::string(source);
  Reader top(doc, "top level", source, {"lab", "guest", "test", "check"});
  read_lab(rb, top, source);

  std::size_t i = 0;
  for (const toml::table* t : top.tables("guest")) {
    ++i;
    Reader r(*t, fmt::format("[[guest]] #{}", i), source, {"image", "name", "cmdline", "monitor_cmdline", "emulators", "reference"});
    GuestImage g;
    g.line = t->source().begin.line;
    g.image = *r.str("image", true);
    if (g.image.empty() || g.image.find('/') != std::string::npos)
      r.fail(r.node("image"), "image", "must be a guest name such as \"suite\" (no path, no .elf)");
    g.name = r.str("name").value_or("");
    if (g.name.find_first_of(": \t/") != std::string::npos) r.fail(r.node("name"), "name", "must be a word");
    g.monitor_cmdline = r.str("monitor_cmdline");
    g.cmdline = r.str("cmdline").value_or("");
    if (g.cmdline.find("first=") != std::string::npos || g.cmdline.find("nonce=") != std::string::npos)
      r.fail(r.node("cmdline"), "cmdline", "first= and nonce= are the grader's to set");
    g.emulators = read_emulators(r, "emulators");
    g.reference = r.boolean("reference").value_or(true);
    for (const auto& other : rb.guests)
      if (other.label() == g.label())
        r.fail(r.node("image"), "image", fmt::format("'{}' is listed twice (give one a name)", g.label()));
    rb.guests.push_back(std::move(g));
  }
  if (rb.guests.empty()) top.fail(nullptr, "guest", "no [[guest]] entry: which test guest does this lab boot?");

  auto check_guest = [&](Reader& r, const std::string& guest) {
    if (guest.empty()) return;
    for (const auto& g : rb.guests)
      if (g.label() == guest) return;
    r.fail(r.node("guest"), "guest", fmt::format("no [[guest]] has image or name \"{}\"", guest));
  };
  auto check_points = [](Reader& r, double points) {
    if (!(points >= 0 && points <= 1e6)) r.fail(r.node("points"), "points", "must be 0 or more");
  };
  Visibility vis_default = Visibility::visible;
  auto read_visibility = [&](Reader& r) {
    return pick<Visibility>(r, "visibility", r.str("visibility"), vis_default,
                            {{"visible", Visibility::visible}, {"hidden", Visibility::hidden},
                             {"after_due_date", Visibility::after_due_date},
                             {"after_published", Visibility::after_published}});
  };

  i = 0;
  for (const toml::table* t : top.tables("test")) {
    ++i;
    Reader r(*t, fmt::format("[[test]] #{}", i), source,
             {"test", "points", "exercise", "visibility", "expect", "emulators", "guest", "why", "events"});
    TestEntry e;
    e.index = i;
    e.line = t->source().begin.line;
    e.pattern = *r.str("test", true);
    if (e.pattern.empty()) r.fail(r.node("test"), "test", "is empty");
    e.points = *r.number("points", true);
    check_points(r, e.points);
    e.exercise = r.str("exercise").value_or("");
    e.visibility = read_visibility(r);
    e.expect = pick<Expect>(r, "expect", r.str("expect"), Expect::pass,
                            {{"pass", Expect::pass}, {"fail", Expect::fail}});
    e.emulators = read_emulators(r, "emulators");
    for (Emulator em : e.emulators)
      if (!rb.runs_on(em))
        r.fail(r.node("emulators"), "emulators", fmt::format("the lab does not run on {}", emu_name(em)));
    e.guest = r.str("guest").value_or("");
    check_guest(r, e.guest);
    e.why = r.str("why").value_or("");
    e.events = read_events(r, source);
    for (const auto& other : rb.tests) {
      if (other.pattern == e.pattern && other.guest == e.guest)
        r.fail(r.node("test"), "test", fmt::format("'{}' is already the pattern of [[test]] #{} (line {})",
                                                   e.pattern, other.index, other.line));
    }
    rb.tests.push_back(std::move(e));
  }

  i = 0;
  for (const toml::table* t : top.tables("check")) {
    ++i;
    Reader r(*t, fmt::format("[[check]] #{}", i), source,
             {"name", "points", "exercise", "visibility", "emulators", "guest", "why", "events"});
    CheckEntry c;
    c.index = i;
    c.line = t->source().begin.line;
    c.name = *r.str("name", true);
    if (c.name.empty()) r.fail(r.node("name"), "name", "is empty");
    c.points = *r.number("points", true);
    check_points(r, c.points);
    c.exercise = r.str("exercise").value_or("");
    c.visibility = read_visibility(r);
    c.emulators = read_emulators(r, "emulators");
    c.guest = r.str("guest").value_or("");
    check_guest(r, c.guest);
    c.why = r.str("why").value_or("");
    c.events = read_events(r, source);
    if (c.events.empty()) r.fail(nullptr, "events", "a [[check]] needs at least one event assertion");
    rb.checks.push_back(std::move(c));
  }
  // The order the handout gives the exercises in must name every exercise the rubric scores.
  if (!rb.order.empty()) {
    auto listed = [&](const std::string& ex) {
      return ex.empty() || std::find(rb.order.begin(), rb.order.end(), ex) != rb.order.end();
    };
    for (const auto& t : rb.tests)
      if (!listed(t.exercise))
        throw RubricError(fmt::format("{}:{}: [lab] order does not list the exercise {} of test '{}'", source,
                                      t.line, t.exercise, t.pattern));
    for (const auto& c : rb.checks)
      if (!listed(c.exercise))
        throw RubricError(fmt::format("{}: [lab] order does not list the exercise {} of check '{}'", source,
                                      c.exercise, c.name));
  }
  return rb;
}

Rubric load_rubric(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw RubricError(fmt::format("{}: cannot read the rubric file", file.string()));
  std::stringstream buf;
  buf << in.rdbuf();
  Rubric rb = parse_rubric(buf.str(), file.string());
  rb.file = file;
  if (rb.name != file.stem().string())
    throw RubricError(fmt::format("{}: [lab], key 'name': '{}' does not match the file name "
                                  "(expected '{}')", file.string(), rb.name, file.stem().string()));
  return rb;
}

std::vector<std::string> list_rubrics(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    if ((a == "native") != (b == "native")) return a == "native";
    return a < b;
  });
  return names;
}

}  // namespace hvlab::grader

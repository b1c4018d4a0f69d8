#!/usr/bin/env python3
"""Writes one Doxygen page per lab: each exercise (a solution region, labs/README.md) with
the function it sits in, linked to that function's documentation, its place in the sources,
what the handout's table says of it and what the stub does.

Usage: tools/docs/exercises.py TOP OUTDIR
"""

import pathlib
import re
import sys

# A solution region (the reference tree), or the stub the handout left in its place.
# (\s+ between the marker's words: this file must not hold the marker itself, or the
# handout generator takes it for one.)
BEGIN = re.compile(r"^\s*(//\s*BEGIN\s+SOLUTION\s+|HV_NOT_IMPLEMENTED\(\")(lab\d\d)-e(\d+)")
STUB = re.compile(r"//\s*STUB:\s*(.*)")
# A function definition's first line at the start of a line: "Type name(args) {" or
# "Type Class::name(args) const {"; the name may be qualified.
DEFINITION = re.compile(r"^[A-Za-z_][\w:<>,*& ]*?\b((?:\w+::)*~?\w+)\s*\([^;]*$")
NAMESPACE_OPEN = re.compile(r"^namespace\s*([\w:]*)\s*\{")
NAMESPACE_CLOSE = re.compile(r"^\}\s*//\s*namespace")
SOURCE_DIRS = ("common", "lab01-trap-and-emulate", "lab02-binary-translation", "lab03-paravirt", "lab04-vtx")


def enclosing(lines, index):
    """(qualified name, anonymous?) of the function whose body holds line `index`."""
    name, line_no = None, None
    for i in range(index, -1, -1):
        m = DEFINITION.match(lines[i])
        if m and not lines[i].startswith(("return", "if", "for", "while", "switch")):
            name, line_no = m.group(1), i
            break
    if name is None:
        return None, False, None
    scopes = []
    for line in lines[:line_no]:
        m = NAMESPACE_OPEN.match(line)
        if m:
            scopes.append(m.group(1))
        elif NAMESPACE_CLOSE.match(line) and scopes:
            scopes.pop()
    anonymous = "" in scopes
    qualified = "::".join([s for s in scopes if s] + [name])
    return qualified, anonymous, line_no + 1


def handout_rows(top, lab):
    """exercise id -> (where, what) of the handout's table (labs/labNN.md)."""
    rows = {}
    md = top / "labs" / ("%s.md" % lab)
    if not md.exists():
        return rows
    for line in md.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"lab\d\d-e\d+", cells[0]):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def markdown_for_doxygen(text):
    # Backslashes and @ start Doxygen commands; the handout's text is plain Markdown.
    return text.replace("\\", "\\\\").replace("@", "\\@")


def main():
    top = pathlib.Path(sys.argv[1]).resolve()
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    found = {}
    for d in SOURCE_DIRS:
        for path in sorted((top / d).rglob("*")):
            if path.suffix not in (".cpp", ".hpp", ".S") or "tests" in path.parts:
                continue
            lines = path.read_text(errors="replace").splitlines()
            for i, line in enumerate(lines):
                m = BEGIN.search(line)
                if not m:
                    continue
                lab, number = m.group(2), int(m.group(3))
                name, anonymous, def_line = enclosing(lines, i)
                stub = next((STUB.search(l).group(1) for l in lines[i:i + 200] if STUB.search(l)), "")
                if not stub and "HV_NOT_IMPLEMENTED" in line and i + 1 < len(lines):
                    stub = lines[i + 1].strip()
                found.setdefault(lab, []).append(
                    (number, name, anonymous, path.relative_to(top), i + 1, def_line, stub))
    for lab, exercises in sorted(found.items()):
        rows = handout_rows(top, lab)
        text = ["/**", "\\page %s_exercises %s: the exercises and the functions they ask for" % (lab, lab), ""]
        text.append("Each exercise of %s is a solution region in the sources (labs/README.md): the "
                    "handout replaces it with its stub. The function each one completes, where, "
                    "and what the handout (labs/%s.md) asks:" % (lab, lab))
        text.append("")
        for number, name, anonymous, path, line, def_line, stub in sorted(exercises, key=lambda e: e[0]):
            ex = "%s-e%d" % (lab, number)
            if name and not anonymous:
                target = "\\ref %s \"%s()\"" % (name, name.split("::")[-1])
            elif name:
                target = "`%s()` (file-local)" % name
            else:
                target = "(outside a function)"
            text.append("- **%s**: %s in `%s` (the region at line %d)" % (ex, target, path, line))
            where, what = rows.get(ex, ("", ""))
            if name and name.split("::")[-1] in where:
                text.append("  <br>%s" % markdown_for_doxygen(what))
            elif ex in rows:
                # The handout's table names another place: say so rather than show its text.
                print("docs: %s: labs/%s.md places it at '%s', the sources in %s()" % (ex, lab, where, name),
                      file=sys.stderr)
                text.append("  <br>(labs/%s.md's table places it elsewhere: %s)" % (lab, markdown_for_doxygen(where)))
            if stub:
                text.append("  <br>Stub: `%s`" % stub.replace("`", "'"))
        text.append("*/")
        (out / ("%s_exercises.dox" % lab)).write_text("\n".join(text) + "\n")
        print("docs: %s: %d exercises" % (lab, len(exercises)))


if __name__ == "__main__":
    main()

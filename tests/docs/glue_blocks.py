#!/usr/bin/env python3
"""Checks that the adapter glue the docs show is the very code the adapter tests build and run.

    glue_blocks.py ROOT DOC.md...

A C++ block in the docs is tied to a source file by an HTML comment above it (the
rill-snippet comment, if any, comes between it and the fence):

    <!-- rill-glue: file=tests/uv/glue_server.cpp lines=13 -->
    <!-- rill-snippet: not-compiled reason="..." -->
    ```cpp
    ...
    ```

The block is one or more excerpts separated by a line holding only `// ...`. Each
excerpt must appear verbatim (whole lines, indentation included) in the file, in the
file's order. With `lines=N` the block must also show every glue line of the file —
a line marked `// +rill`, or a line between `// rill glue begin` and `// rill glue end`
— and the file must have exactly N of them (blank and comment-only lines not counted),
at most 15 (issue 9's budget). Every tests/*/glue_*.cpp must be shown that way by some
doc, so a glue file cannot be added, or its glue grow, without the docs following.
Exits 1 and says what drifted.
"""
import pathlib
import re
import sys

GLUE_DIRECTIVE = re.compile(r"^<!--\s*rill-glue:\s*(.*?)\s*-->\s*$")
SNIPPET_DIRECTIVE = re.compile(r"^<!--\s*rill-snippet:.*-->\s*$")
FENCE_OPEN = re.compile(r"^```\s*(cpp|c\+\+|cxx)\s*$", re.I)
ELISION = "// ..."
BUDGET = 15


def attrs_of(text):
    return {k: a or b for k, a, b in re.findall(r'([\w-]+)=(?:"([^"]*)"|(\S+))', text)}


def glue_lines(lines):
    """Indices of the glue lines of a source file, as the adapter tests count them."""
    out, inside = [], False
    for i, line in enumerate(lines):
        s = line.strip()
        if s == "// rill glue begin":
            inside = True
        elif s == "// rill glue end":
            inside = False
        elif "// +rill" in line or (inside and s and not s.startswith("//")):
            out.append(i)
    return out


def excerpts(code):
    parts, cur = [], []
    for line in code:
        if line.strip() == ELISION:
            parts.append(cur)
            cur = []
        else:
            cur.append(line)
    parts.append(cur)
    trimmed = []
    for p in parts:
        while p and not p[0].strip():
            p = p[1:]
        while p and not p[-1].strip():
            p = p[:-1]
        if p:
            trimmed.append(p)
    return trimmed


def locate(parts, lines):
    """Where each excerpt sits in the file (first line index), in order; None if one does not."""
    at, spans = 0, []
    for p in parts:
        found = None
        for start in range(at, len(lines) - len(p) + 1):
            if lines[start:start + len(p)] == p:
                found = start
                break
        if found is None:
            return None, p
        spans.append((found, found + len(p)))
        at = found + len(p)
    return spans, None


def blocks(doc):
    """(line number, attributes, code lines) of every block under a rill-glue comment."""
    lines = doc.read_text(encoding="utf-8").split("\n")
    out = []
    for i, line in enumerate(lines):
        m = GLUE_DIRECTIVE.match(line.strip())
        if not m:
            continue
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or SNIPPET_DIRECTIVE.match(lines[j].strip())):
            j += 1
        if j >= len(lines) or not FENCE_OPEN.match(lines[j]):
            out.append((i + 1, attrs_of(m.group(1)), None))
            continue
        k = j + 1
        while k < len(lines) and lines[k].strip() != "```":
            k += 1
        out.append((i + 1, attrs_of(m.group(1)), lines[j + 1:k]))
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1])
    errors, shown = [], {}
    count = 0
    for doc in map(pathlib.Path, sys.argv[2:]):
        name = doc.resolve().relative_to(root.resolve()).as_posix() if doc.resolve().is_relative_to(
            root.resolve()) else doc.as_posix()
        for line_no, attrs, code in blocks(doc):
            where = f"{name}:{line_no}"
            count += 1
            if code is None:
                errors.append(f"{where}: a rill-glue comment not followed by a C++ block")
                continue
            source = attrs.get("file")
            if not source or not (root / source).is_file():
                errors.append(f"{where}: file={source!r} does not exist")
                continue
            lines = (root / source).read_text(encoding="utf-8").split("\n")
            spans, missing = locate(excerpts(code), lines)
            if spans is None:
                errors.append(f"{where}: not verbatim in {source} (or out of order); this excerpt is not "
                              f"there:\n      " + "\n      ".join(missing))
                continue
            print(f"{where}: {len(spans)} excerpt(s) of {source}, verbatim")
            if "lines" not in attrs:
                continue
            glue = glue_lines(lines)
            unseen = [i for i in glue if not any(a <= i < b for a, b in spans)]
            if unseen:
                errors.append(f"{where}: glue lines of {source} the block does not show:\n      " +
                              "\n      ".join(lines[i] for i in unseen))
            stated = int(attrs["lines"])
            if stated != len(glue):
                errors.append(f"{where}: says {stated} lines of glue, {source} has {len(glue)}")
            if len(glue) == 0 or len(glue) > BUDGET:
                errors.append(f"{where}: {source} has {len(glue)} glue lines (budget: 1 to {BUDGET})")
            shown.setdefault(source, []).append(where)
            print(f"{where}: shows all {len(glue)} glue lines of {source}")
    for path in sorted(root.glob("tests/*/glue_*.cpp")):
        rel = path.relative_to(root).as_posix()
        if rel not in shown:
            errors.append(f"{rel}: a glue file no doc shows (add a block with <!-- rill-glue: file={rel} lines=N -->)")
    print(f"glue blocks: {count} block(s) checked, {len(errors)} problem(s)")
    for e in errors:
        print("  FAIL " + e)
    return 1 if errors or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

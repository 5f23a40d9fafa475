#!/usr/bin/env python3
"""Generate the single-header distribution of rill.

Starting at include/rill/rill.hpp, every rill header (``#include <rill/...>``,
``#include "rill/..."`` or a quoted include relative to the including file)
is inlined exactly once, depth-first, in the order it is first included.
Each inlined include line is replaced by a ``// #include <rill/...>`` marker
followed by the header's content; later includes of the same header leave
only the marker. System and third-party includes are kept as they are.

The output is deterministic (no timestamps, LF line endings), so it can be
committed and checked in CI:

    python3 scripts/amalgamate.py            # write single_include/rill/rill.hpp
    python3 scripts/amalgamate.py --check    # exit 1 if the committed file is stale
"""

import argparse
import difflib
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE_DIR = ROOT / "include"
ENTRY = "rill/rill.hpp"
VERSION_HEADER = INCLUDE_DIR / "rill" / "version.hpp"
DEFAULT_OUTPUT = ROOT / "single_include" / "rill" / "rill.hpp"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
VERSION_RE = re.compile(r"^#define RILL_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+)\s*$")


class AmalgamationError(Exception):
    pass


def read_text(path):
    with open(path, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_version():
    parts = {}
    for line in read_text(VERSION_HEADER).split("\n"):
        m = VERSION_RE.match(line)
        if m:
            parts[m.group(1)] = m.group(2)
    missing = [p for p in ("MAJOR", "MINOR", "PATCH") if p not in parts]
    if missing:
        raise AmalgamationError(
            "cannot read RILL_VERSION_%s from %s" % (", ".join(missing), VERSION_HEADER))
    return "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts["PATCH"])


def resolve(kind, name, current):
    """Return the header's name relative to include/ (e.g. 'rill/detail/x.hpp')
    if the include refers to one of rill's own headers, else None."""
    candidates = []
    if kind == '"':
        candidates.append((current.parent / name))
    candidates.append(INCLUDE_DIR / name)
    for candidate in candidates:
        candidate = pathlib.Path(candidate).resolve()
        try:
            rel = candidate.relative_to(INCLUDE_DIR / "rill")
        except ValueError:
            continue
        if candidate.is_file():
            return "rill/" + rel.as_posix()
    if name.startswith("rill/"):
        raise AmalgamationError(
            "%s includes %s, which does not exist under include/" % (current, name))
    return None


class Amalgamator:
    def __init__(self):
        self.seen = set()
        self.out = []

    def inline(self, rel):
        path = INCLUDE_DIR / rel
        self.seen.add(rel)
        for line in read_text(path).split("\n"):
            m = INCLUDE_RE.match(line)
            own = resolve(m.group(1), m.group(2), path) if m else None
            if own is None:
                self.out.append(line)
                continue
            self.out.append("// #include <%s>" % own)
            if own not in self.seen:
                self.inline(own)
        # Keep one line break between a header and whatever follows it.
        while self.out and self.out[-1] == "":
            self.out.pop()


def generate():
    version = read_version()
    amalgamator = Amalgamator()
    amalgamator.inline(ENTRY)
    banner = [
        "// rill v%s - single-header distribution" % version,
        "//",
        "// This file is generated from include/ by scripts/amalgamate.py.",
        "// Do not edit it: edit the headers under include/ instead and regenerate.",
        "//",
        "// Copyright (c) 2026 the rill authors. Licensed under the MIT License (see LICENSE).",
        "// SPDX-License-Identifier: MIT",
        "",
        "#ifndef RILL_SINGLE_INCLUDE_RILL_HPP",
        "#define RILL_SINGLE_INCLUDE_RILL_HPP",
        "",
    ]
    footer = [
        "",
        "#endif  // RILL_SINGLE_INCLUDE_RILL_HPP",
    ]
    return "\n".join(banner + amalgamator.out + footer) + "\n"


def display(path):
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT,
                        help="output file (default: single_include/rill/rill.hpp)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if OUTPUT differs from a fresh amalgamation")
    args = parser.parse_args(argv)
    output = args.output if args.output.is_absolute() else pathlib.Path.cwd() / args.output

    try:
        text = generate()
    except AmalgamationError as e:
        print("amalgamate.py: error: %s" % e, file=sys.stderr)
        return 2

    if args.check:
        if not output.is_file():
            print("amalgamate.py: %s does not exist; run `python3 scripts/amalgamate.py`"
                  % display(output), file=sys.stderr)
            return 1
        current = read_text(output)
        if current == text:
            print("amalgamate.py: %s is up to date" % display(output))
            return 0
        diff = list(difflib.unified_diff(
            current.split("\n"), text.split("\n"),
            fromfile=display(output) + " (committed)",
            tofile=display(output) + " (from include/)", lineterm=""))
        changed = sum(1 for d in diff[2:] if d[:1] in "+-")
        limit = 40
        print("amalgamate.py: %s is out of date (%d changed lines); "
              "run `python3 scripts/amalgamate.py` and commit the result"
              % (display(output), changed), file=sys.stderr)
        for line in diff[:limit]:
            print(line, file=sys.stderr)
        if len(diff) > limit:
            print("... (%d more diff lines)" % (len(diff) - limit), file=sys.stderr)
        return 1

    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print("amalgamate.py: wrote %s" % display(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())

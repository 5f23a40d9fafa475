#!/usr/bin/env python3
"""Turns every C++ code block of the given Markdown files into a program the docs tests run.

    doc_snippets.py OUTDIR DOC.md...       write OUTDIR/<doc>_<n>.cpp, print the manifest
    doc_snippets.py --inventory DOC.md...  print what happens to each block; exit 1 if one is unclassified

A C++ block is a fence whose info string is cpp, c++ or cxx. What happens to it is decided by
the block itself and by an HTML comment on the nearest non-blank line above the fence:

    (no comment, the block has `int main`)     run as is; it must check its claims with assert()
    <!-- rill-snippet: harness=NAME -->         pasted into tests/docs/harness/NAME.cpp at the line
                                                `// @SNIPPET@` (leading #include lines go to
                                                `// @SNIPPET_INCLUDES@` when the harness has one);
                                                the harness's main drives it and checks the claims
    <!-- rill-snippet: compile-only reason="..." -->   compiled, never run: counted and listed
    <!-- rill-snippet: not-compiled reason="..." -->   not built at all: counted and listed

A block without `int main` and without a comment is an error: nothing is compiled-but-not-run
without saying so. The manifest (stdout) has one line per generated file, `run PATH` or
`compile PATH`; the inventory goes to stderr in generate mode so CMake can show it.
"""
import pathlib
import re
import sys

# Indented fences (inside a list item) count too: no block hides behind indentation.
FENCE_OPEN = re.compile(r"^(\s*)```\s*(cpp|c\+\+|cxx)\s*$", re.I)
FENCE_CLOSE = re.compile(r"^\s*```\s*$")
DIRECTIVE = re.compile(r"^<!--\s*rill-snippet:\s*(.*?)\s*-->\s*$")
ATTR = re.compile(r'([\w-]+)(?:=(?:"([^"]*)"|(\S+)))?')
SNIPPET_MARK = "// @SNIPPET@"
INCLUDES_MARK = "// @SNIPPET_INCLUDES@"

ROOT = pathlib.Path(__file__).resolve().parent.parent
HARNESS_DIR = ROOT / "tests" / "docs" / "harness"


class Block:
    def __init__(self, doc, index, line, code, directive):
        self.doc = doc            # path relative to the repository, for messages and #line
        self.index = index        # 1-based among the doc's C++ blocks
        self.line = line          # line of the first code line in the doc
        self.code = code
        self.directive = directive  # dict or None
        self.kind = None          # run, compile, skip, error
        self.why = ""

    @property
    def name(self):
        return f"{pathlib.Path(self.doc).stem}_{self.index}"

    @property
    def where(self):
        return f"{self.doc}:{self.line} (block {self.index})"


def relative(path):
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def parse_directive(text):
    attrs = {}
    for m in ATTR.finditer(text):
        attrs[m.group(1)] = m.group(2) if m.group(2) is not None else (m.group(3) or "")
    return attrs


def blocks_of(path):
    lines = path.read_text(encoding="utf-8").split("\n")
    out = []
    i = 0
    while i < len(lines):
        fence = FENCE_OPEN.match(lines[i])
        if not fence:
            i += 1
            continue
        indent = len(fence.group(1))
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        m = DIRECTIVE.match(lines[j].strip()) if j >= 0 else None
        start = i + 1
        k = start
        while k < len(lines) and not FENCE_CLOSE.match(lines[k]):
            k += 1
        code = "\n".join(line[indent:] if line[:indent].isspace() else line.lstrip()
                         for line in lines[start:k]) + "\n"
        out.append(Block(relative(path), len(out) + 1, start + 1, code,
                         parse_directive(m.group(1)) if m else None))
        i = k + 1
    return out


def classify(block):
    d = block.directive
    has_main = re.search(r"\bint\s+main\s*\(", block.code) is not None
    if d is None:
        if not has_main:
            block.kind, block.why = "error", ("a fragment (no `int main`): give it a harness "
                                              "or mark it compile-only/not-compiled with a reason")
        elif "assert(" not in block.code:
            block.kind, block.why = "error", "runs but checks nothing: add assert() for what the text claims"
        else:
            block.kind, block.why = "run", "own main"
        return
    if "harness" in d:
        harness = HARNESS_DIR / f"{d['harness']}.cpp"
        if not harness.is_file():
            block.kind, block.why = "error", f"harness {relative(harness)} does not exist"
        elif SNIPPET_MARK not in harness.read_text(encoding="utf-8"):
            block.kind, block.why = "error", f"harness {relative(harness)} has no `{SNIPPET_MARK}` line"
        elif has_main:
            block.kind, block.why = "error", "a block with its own main cannot go into a harness"
        else:
            block.kind, block.why = "run", f"harness {d['harness']}"
        return
    for key, kind in (("compile-only", "compile"), ("not-compiled", "skip")):
        if key in d:
            reason = d.get("reason", "").strip()
            if not reason:
                block.kind, block.why = "error", f"{key} needs reason=\"...\""
            else:
                block.kind, block.why = kind, reason
            return
    block.kind, block.why = "error", f"unknown rill-snippet comment {d}"


def line_directive(line, path):
    return f'#line {line} "{path}"\n'


def render(block):
    header = f"// Generated by scripts/doc_snippets.py from {block.where}; edit the Markdown, not this file.\n"
    name = (block.directive or {}).get("harness")
    if name is None:
        return header + line_directive(block.line, block.doc) + block.code
    harness = HARNESS_DIR / f"{name}.cpp"
    hpath = relative(harness)
    code_lines = block.code.split("\n")
    includes_end = 0
    text = harness.read_text(encoding="utf-8")
    if INCLUDES_MARK in text:
        while includes_end < len(code_lines) and (
                not code_lines[includes_end].strip() or code_lines[includes_end].lstrip().startswith("#include")):
            includes_end += 1
    out = [header, line_directive(1, hpath)]
    for n, hline in enumerate(text.split("\n"), 1):
        mark = hline.strip()
        if mark == INCLUDES_MARK:
            out.append(line_directive(block.line, block.doc))
            out.append("\n".join(code_lines[:includes_end]) + "\n")
            out.append(line_directive(n + 1, hpath))
        elif mark == SNIPPET_MARK:
            out.append(line_directive(block.line + includes_end, block.doc))
            out.append("\n".join(code_lines[includes_end:]) + "\n")
            out.append(line_directive(n + 1, hpath))
        else:
            out.append(hline + "\n")
    return "".join(out)


def inventory(blocks, stream):
    counts = {k: sum(1 for b in blocks if b.kind == k) for k in ("run", "compile", "skip", "error")}
    own = sum(1 for b in blocks if b.kind == "run" and b.why == "own main")
    print(f"docs snippets: {len(blocks)} C++ blocks: {counts['run']} run ({own} with their own main, "
          f"{counts['run'] - own} in a harness), {counts['compile']} compile-only, "
          f"{counts['skip']} not compiled, {counts['error']} unclassified", file=stream)
    for b in blocks:
        if b.kind == "run":
            print(f"  run           {b.where}: {b.why}", file=stream)
    for label, kind in (("compile-only", "compile"), ("not compiled", "skip"), ("UNCLASSIFIED", "error")):
        for b in blocks:
            if b.kind == kind:
                print(f"  {label:<13} {b.where}: {b.why}", file=stream)
    return counts["error"] == 0


def main():
    args = sys.argv[1:]
    check_only = bool(args) and args[0] == "--inventory"
    if check_only:
        args = args[1:]
    if len(args) < (1 if check_only else 2):
        print(__doc__, file=sys.stderr)
        return 2
    outdir = None if check_only else pathlib.Path(args.pop(0))
    blocks = []
    for doc in args:
        blocks.extend(blocks_of(pathlib.Path(doc)))
    for b in blocks:
        classify(b)
    if check_only:
        return 0 if inventory(blocks, sys.stdout) else 1
    outdir.mkdir(parents=True, exist_ok=True)
    for b in blocks:
        if b.kind not in ("run", "compile"):
            continue
        target = outdir / f"{b.name}.cpp"
        text = render(b)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")  # only on change: no needless rebuilds
        print(f"{b.kind} {target}")
    inventory(blocks, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

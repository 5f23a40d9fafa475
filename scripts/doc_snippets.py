#!/usr/bin/env python3
"""Extracts every ```cpp block from the given Markdown files into OUTDIR.

Each block becomes OUTDIR/<doc>_<n>.cpp. A block is a complete program (it has
`int main`) or a fragment compiled as its own translation unit. The file list
printed on stdout (one path per line) is what tests/docs/CMakeLists.txt builds.
"""
import pathlib
import re
import sys


def main() -> int:
    if len(sys.argv) < 3:
        print("usage: doc_snippets.py OUTDIR DOC.md...", file=sys.stderr)
        return 2
    outdir = pathlib.Path(sys.argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    for doc in sys.argv[2:]:
        path = pathlib.Path(doc)
        blocks = re.findall(r"^```cpp\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)
        for n, code in enumerate(blocks, 1):
            name = f"{path.stem}_{n}"
            target = outdir / f"{name}.cpp"
            if "int main" not in code:
                code += "\nint main() { return 0; }\n"
            text = f"// extracted from docs/{path.name}, block {n}\n#line 1 \"{path.name}:{n}\"\n{code}"
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
            print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks that docs/api.md names every public name the headers declare.

    api_coverage.py INCLUDE_DIR API_MD [--list]

The public names are read from the headers, not from a list kept by hand: every
declaration in namespace rill (outside rill::detail) and in the public part of its
classes — classes, structs, enums and their enumerators, aliases, variables and
concepts, functions and constructors (each overload), data members — and every
RILL_ macro that is not an include guard. A name is covered when it appears as an
identifier in a code span or block of api.md — for a member (or enumerator, or a
name in a nested namespace), in a table row, paragraph or code block that also
names its class (enum, namespace) or under a heading that does; an overloaded
function is covered overload by overload, by a code span holding `name(`
followed by each of that overload's parameter types (`send(const char*)`,
`close(const Fields& trailers)`, `to_string(Framing)`). Exits 1 and lists what
is missing.
"""
import pathlib
import re
import sys

IDENT = re.compile(r"[A-Za-z_~][A-Za-z_0-9]*")


def strip_code(text):
    """Drops comments and the contents of string and character literals."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_template_and_attributes(head):
    head = re.sub(r"\[\[.*?\]\]", " ", head)
    while True:
        m = re.match(r"\s*template\s*<", head)
        if not m:
            return head.strip()
        depth, i = 1, m.end()
        while i < len(head) and depth:
            depth += {"<": 1, ">": -1}.get(head[i], 0)
            i += 1
        head = head[i:]


def split_top(text, sep=","):
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "<([{":
            depth += 1
        elif c in ">)]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def param_type(param):
    param = split_top(param, "=")[0].strip()
    idents = list(IDENT.finditer(param))
    # "const char* part": drop the trailing parameter name when a type precedes it.
    if len(idents) >= 2 and param.endswith(idents[-1].group()):
        prev = param[:idents[-1].start()].rstrip()
        if prev and (prev[-1] in "*&>" or prev[-1].isalnum() or prev[-1] == "_"):
            param = prev
    return re.sub(r"\s+", "", param)


class Collector:
    def __init__(self):
        self.names = []  # (scope, name, params or None, kind)

    def add(self, scope, name, kind, params=None):
        self.names.append((scope, name, params, kind))

    def declaration(self, scope, head):
        head = strip_template_and_attributes(head)
        if not head or head.startswith(("static_assert", "friend", "public:", "private:")):
            return
        if re.match(r"using\s+[\w:]+::", head) or head.startswith("using namespace"):
            return  # a using-declaration (inherited constructors): declares nothing new
        m = re.match(r"namespace\s+(\w+)\s*=", head)
        if m:
            self.add(scope, m.group(1), "namespace alias")
            return
        m = re.match(r"using\s+(\w+)\s*=", head)
        if m:
            self.add(scope, m.group(1), "alias")
            return
        paren = self.first_top_paren(head)
        eq = self.first_top(head, "=")
        if paren is not None and (eq is None or paren < eq):
            name = self.name_before(head, paren)
            if name is None:
                return
            if re.search(r"\w\s*::\s*~?\w+\s*$", head[:paren]):
                return  # `Type::member(...)`: a member defined out of its class, declared in it
            if re.search(r"=\s*delete\s*$", head):
                return
            close = self.matching(head, paren)
            before = re.sub(r"\bexplicit\b", "", head[:paren]).strip()
            if re.match(r"\s*->", head[close + 1:]) and before == name:
                return  # a deduction guide (no return type before the name), not a function
            params = [param_type(p) for p in split_top(head[paren + 1:close])]
            params = [p for p in params if p and p != "void"]
            self.add(scope, name, "function", params)
            return
        target = head[:eq] if eq is not None else head
        target = re.sub(r"\[[^\]]*\]\s*$", "", target.strip())
        idents = IDENT.findall(target)
        if idents:
            kind = "concept" if idents[0] == "concept" else "variable"
            self.add(scope, idents[-1], kind)

    @staticmethod
    def first_top(text, ch):
        depth = 0
        for i, c in enumerate(text):
            if c in "<([{":
                depth += 1
            elif c in ">)]}":
                depth -= 1
            elif c == ch and depth == 0:
                if ch == "=" and (text[i + 1:i + 2] == "=" or text[i - 1:i] in "=!<>" or
                                  text[:i].rstrip().endswith("operator")):
                    continue
                return i
        return None

    @staticmethod
    def first_top_paren(text):
        depth = 0
        for i, c in enumerate(text):
            if c == "<":
                depth += 1
            elif c == ">":
                depth -= 1
            elif c == "(" and depth == 0:
                return i
        return None

    @staticmethod
    def matching(text, i):
        depth = 0
        for j in range(i, len(text)):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            if depth == 0:
                return j
        return len(text)

    @staticmethod
    def name_before(head, paren):
        m = re.search(r"(operator\s*\S+|~?[A-Za-z_]\w*)\s*$", head[:paren])
        if not m:
            return None
        name = re.sub(r"\s+", "", m.group(1))
        if name in ("alignas", "decltype", "sizeof", "noexcept", "static_assert"):
            return None
        return name


def collect(header_text):
    text = strip_code(header_text)
    # A macro the header #undefs again (a helper of its own) is not part of the API.
    undefined = set(re.findall(r"^\s*#\s*undef\s+(RILL_\w+)", text, re.M))
    macros = [m for m in re.findall(r"^\s*#\s*define\s+(RILL_\w+)", text, re.M)
              if not m.endswith("_HPP") and m not in undefined]
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)
    c = Collector()
    # A scope: (kind, name, public?) with kind namespace, class, enum, body.
    stack = [("file", "", True)]
    head = []
    depth_paren = 0
    i, n = 0, len(text)

    def visible():
        names = []
        for kind, name, public in stack:
            if kind == "body" or not public:
                return None
            if kind == "inline":
                continue  # an inline namespace (rill::asio's Asio flavour) adds nothing to a name
            if kind == "namespace":
                if name == "detail":
                    return None
                if name != "rill":
                    names.append(name)
            elif kind in ("class", "enum"):
                names.append(name)
        return "::".join(names) if any(k == "namespace" and nm == "rill" for k, nm, _ in stack) else None

    def skip_braces(j):
        depth = 0
        while j < n:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                return j
        return j

    while i < n:
        ch = text[i]
        if ch in "()":
            depth_paren += 1 if ch == "(" else -1
            head.append(ch)
            i += 1
            continue
        if ch == "{":
            h = "".join(head)
            if depth_paren > 0 or Collector.first_top(h, "=") is not None:
                j = skip_braces(i)  # a braced initializer is part of the declaration
                head.append(text[i:j])
                i = j
                continue
            hs = strip_template_and_attributes(h)
            scope = visible()
            m_ns = re.match(r"(inline\s+)?namespace\s+(\w+)\s*$", hs)
            m_enum = re.match(r"enum\s+(?:class\s+|struct\s+)?(\w+)", hs)
            m_cls = re.match(r"(class|struct)\s+(?:\[\[.*?\]\]\s*)?(\w+)", hs)
            if m_ns:
                stack.append(("inline" if m_ns.group(1) else "namespace", m_ns.group(2), True))
            elif m_enum:
                j = skip_braces(i)
                if scope is not None:
                    c.add(scope, m_enum.group(1), "enum")
                    inner = scope + "::" + m_enum.group(1) if scope else m_enum.group(1)
                    for item in split_top(text[i + 1:j - 1]):
                        m = IDENT.search(item)
                        if m:
                            c.add(inner, m.group(), "enumerator")
                i = j
                head = []
                continue
            elif (re.match(r"[\w:<>,\s*&]+\s[*&\s]*\w+$", hs) and
                  not re.match(r"(namespace|extern|enum|class|struct|union)\b", hs)):
                j = skip_braces(i)  # `Type name{...}`: a member with a braced initializer
                head.append("{}")  # its contents would read as a call
                i = j
                continue
            elif m_cls and "(" not in hs:
                if scope is not None:
                    c.add(scope, m_cls.group(2), m_cls.group(1))
                stack.append(("class", m_cls.group(2), m_cls.group(1) == "struct"))
            else:
                if scope is not None and "(" in hs:
                    c.declaration(scope, hs)
                j = skip_braces(i)  # a function body
                i = j
                head = []
                continue
            head = []
            i += 1
            continue
        if ch == "}":
            stack.pop()
            head = []
            i += 1
            continue
        if ch == ";" and depth_paren == 0:
            scope = visible()
            if scope is not None:
                c.declaration(scope, "".join(head))
            head = []
            i += 1
            continue
        if ch == ":" and stack[-1][0] == "class":
            m = re.search(r"\b(public|private|protected)\s*$", "".join(head))
            if m and text[i + 1:i + 2] != ":":
                kind, name, _ = stack[-1]
                stack[-1] = (kind, name, m.group(1) == "public")
                head = []
                i += 1
                continue
        head.append(ch)
        i += 1
    return c.names, macros


def spans_of(text):
    return [a or b for a, b in re.findall(r"``(.+?)``|`([^`\n]+)`", text)]


def doc_units(md):
    """Splits api.md into units — a table row, a paragraph, a code block — each with the
    code it shows and the headings above it. A member counts as documented only in a unit
    that also names its class (or enum, or namespace), or under a heading that does."""
    units = []
    headings = {}
    lines = md.split("\n")
    i = 0
    para = []

    def context():
        return " ".join(headings[k] for k in sorted(headings))

    def flush_para():
        if para:
            text = "\n".join(para)
            units.append((spans_of(text), context()))
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush_para()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            units.append(("\n".join(lines[i + 1:j]).split("\n"), context()))
            i = j + 1
            continue
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m:
            flush_para()
            level = len(m.group(1))
            headings = {k: v for k, v in headings.items() if k < level}
            headings[level] = m.group(2)
        elif line.startswith("|"):
            flush_para()
            units.append((spans_of(line), context()))
        elif not line.strip():
            flush_para()
        else:
            para.append(line)
        i += 1
    flush_para()
    return units


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    include, api = pathlib.Path(args[0]), pathlib.Path(args[1])
    names, macros = [], []
    for header in sorted(include.rglob("*.hpp")):
        if "detail" in header.relative_to(include).parts:
            continue
        found, defs = collect(header.read_text(encoding="utf-8"))
        names += [(header.name,) + x for x in found]
        macros += [(header.name, m) for m in defs]
    units = []
    for spans, heading in doc_units(api.read_text(encoding="utf-8")):
        idents = set()
        for s in spans:
            idents.update(IDENT.findall(s))
        units.append((idents, [re.sub(r"\s+", "", s) for s in spans], set(IDENT.findall(heading)) | idents))

    overloads = {}
    for header, scope, name, params, kind in names:
        if kind == "function":
            overloads.setdefault((scope, name), []).append(params)

    def shows_overload(squeezed, name, params):
        for s in squeezed:
            at = s.find(name + "(")
            while at >= 0:
                tail = s[at + len(name) + 1:]
                if not params:
                    if tail.startswith(")"):
                        return True
                else:
                    pos, ok = 0, True
                    for p in params:
                        k = tail.find(p, pos)
                        if k < 0:
                            ok = False
                            break
                        pos = k + len(p)
                    if ok:
                        return True
                at = s.find(name + "(", at + 1)
        return False

    def covered(scope, name, params=None):
        parent = scope.split("::")[-1] if scope else None
        for idents, squeezed, context in units:
            if parent is not None and parent not in context:
                continue
            if params is None:
                if name in idents or (name.startswith("operator") and any(name in s for s in squeezed)):
                    return True
            elif shows_overload(squeezed, name, params):
                return True
        return False

    missing, listing = [], []
    seen = set()
    for header, scope, name, params, kind in names:
        qual = f"{scope}::{name}" if scope else name
        if kind == "function":
            sig = f"{qual}({', '.join(params)})"
            if sig in seen:
                continue
            seen.add(sig)
            listing.append(f"{header}: {kind} {sig}")
            plain = name.lstrip("~")
            if len(overloads[(scope, name)]) > 1:
                if not covered(scope, plain, params):
                    missing.append(f"{header}: {sig} (overloaded: write `{plain}(" + ", ".join(params) + ")`)")
            elif not covered(scope, plain):
                missing.append(f"{header}: {sig}")
        else:
            if (qual, kind) in seen:
                continue
            seen.add((qual, kind))
            listing.append(f"{header}: {kind} {qual}")
            if not covered(scope, name):
                missing.append(f"{header}: {kind} {qual}")
    for header, m in dict.fromkeys(macros):
        listing.append(f"{header}: macro {m}")
        if not covered("", m):
            missing.append(f"{header}: macro {m}")
    if "--list" in sys.argv:
        print("\n".join(listing))
    print(f"api coverage: {len(listing)} public names (declarations and overloads) in {include}, "
          f"{len(listing) - len(missing)} named in {api.name}, {len(missing)} missing")
    for m in missing:
        print(f"  missing: {m}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Mutation check for include/rill/: are the deterministic tests able to see a small bug?

Each mutation of scripts/mutations.txt (a file, an exact original snippet that must
occur exactly once, its replacement, a one-line description) is applied, one at a
time, to a scratch copy of the working tree. For each mutant the script rebuilds
only the targets it needs in ONE g++ Release build of that copy and runs the
deterministic tests, stopping at the first label that fails:

    build     the mutant does not compile (listed apart: it says nothing about the tests)
    unit      the doctest binary (tests/unit/*.cpp)
    fuzz      each fuzz replay driver over its checked-in corpus, 0 generated inputs
    wire      ctest -L wire   (curl, Node and Python against rill_wire_server)
    examples  ctest -L examples (hello_deferred driven by real clients)

With --with-random the generated-input fuzz replay (ctest -L fuzz, fixed seeds but a
time budget) also runs for every mutant that compiles, reported in its own column;
it never counts towards the deterministic kill ratio.

Opt-in: not registered in ctest. Everything runs under nice -n 10. The working
tree is never modified; the scratch copy (default /tmp/rill-mutation) is.

    python3 scripts/mutate.py               # every mutant
    python3 scripts/mutate.py --list        # names and descriptions only
    python3 scripts/mutate.py --only 'framing.*' --only fields.del-in-value
    python3 scripts/mutate.py --with-random --jobs 2 --json /tmp/mutation.json
"""

import argparse
import datetime
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTATIONS_FILE = Path(__file__).resolve().parent / "mutations.txt"
DETERMINISTIC_LABELS = ("unit", "fuzz", "wire", "examples")
# The unit test files built first, as their own small binary: most mutants fail one of
# them, and then the other unit files need not be compiled for that mutant at all.
QUICK_UNIT_FILES = ("keep_alive_rules", "field_validation", "callback_order", "sink_error_mapping",
                    "http_framing", "deferred_body")
QUICK_TARGET = "rill_mutation_quick_unit"
QUICK_CMAKE = """
# Added by scripts/mutate.py to its scratch copy only: the unit test files most likely to
# fail, as one small binary built and run before the whole of rill_unit_tests.
add_executable({target} {sources})
target_link_libraries({target} PRIVATE rill::rill rill_warnings ${{RILL_DOCTEST_TARGET}} Threads::Threads)
"""
# A doctest failure line names the test file: ".../tests/unit/<file>.cpp:<line>: ERROR: ..."
UNIT_FAILURE = re.compile(r"tests/unit/([\w.-]+\.(?:cpp|hpp)):\d+: (?:FATAL )?ERROR")
# Timeouts in seconds: a mutant that makes a loop spin is killed by its timeout.
BUILD_TIMEOUT = 900
UNIT_TIMEOUT = 120
REPLAY_TIMEOUT = 60
CTEST_TIMEOUT = 300


class Mutation:
    def __init__(self, name, path, desc, original, replacement, line):
        self.name = name
        self.path = path
        self.desc = desc
        self.original = original
        self.replacement = replacement
        self.line = line  # in mutations.txt, for error messages
        self.equivalent = None  # reason, when kept but known to change nothing observable


def fail(message):
    print("mutate.py: " + message, file=sys.stderr)
    sys.exit(2)


def parse_mutations(path):
    """Blocks of:

        [name]
        file: include/rill/x.hpp
        desc: one line
        equivalent: why (optional: kept, reported, left out of the ratio)
        - original line (exactly as in the file after "- "; several lines allowed)
        + replacement line (several lines allowed; none means delete)

    Lines starting with '#' outside the snippets are comments.
    """
    mutations = []
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.rstrip("\n")
        if current is not None and (line.startswith("- ") or line == "-"):
            current["original"].append(line[2:])
            continue
        if current is not None and (line.startswith("+ ") or line == "+"):
            current["replacement"].append(line[2:])
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = {"name": stripped[1:-1], "line": number, "original": [], "replacement": [],
                       "file": None, "desc": None, "equivalent": None, "set": "core"}
            mutations.append(current)
            continue
        if current is None:
            fail(f"{path.name}:{number}: text outside a [mutation] block")
        key, sep, value = stripped.partition(":")
        if not sep or key not in ("file", "desc", "equivalent", "set"):
            fail(f"{path.name}:{number}: mutant {current['name']}: unknown line {stripped!r}")
        current[key] = value.strip()

    out = []
    seen = set()
    for m in mutations:
        if m["name"] in seen:
            fail(f"mutant {m['name']}: the name is used twice")
        seen.add(m["name"])
        if not m["file"] or not m["desc"] or not m["original"]:
            fail(f"mutant {m['name']} ({path.name}:{m['line']}): needs file, desc and an original snippet")
        mut = Mutation(m["name"], m["file"], m["desc"], "\n".join(m["original"]),
                       "\n".join(m["replacement"]), m["line"])
        mut.equivalent = m["equivalent"]
        if m["set"] not in ("core", "extended"):
            fail(f"mutant {m['name']}: set must be core or extended")
        mut.extended = m["set"] == "extended"
        out.append(mut)
    return out


def check_snippets(mutations, src):
    for m in mutations:
        target = src / m.path
        if not target.is_file():
            fail(f"mutant {m.name}: {m.path} does not exist")
        count = target.read_text().count(m.original)
        if count != 1:
            fail(f"mutant {m.name}: its original snippet occurs {count} times in {m.path} "
                 f"(must be exactly once; mutations.txt line {m.line}):\n{m.original}")
        if m.original == m.replacement:
            fail(f"mutant {m.name}: the replacement equals the original")


def sync_tree(src_root, dst_root):
    """Copies the working tree (minus .git and build directories) into the scratch copy,
    rewriting only files whose bytes differ so that the build stays incremental."""
    def skip_dir(rel):
        top = rel.parts[0] if rel.parts else ""
        return top.startswith(".") or top.startswith("build") or top == "node_modules"

    wanted = set()
    for dirpath, dirnames, filenames in os.walk(src_root):
        rel_dir = Path(dirpath).relative_to(src_root)
        dirnames[:] = [d for d in dirnames if not skip_dir(rel_dir / d)]
        for name in filenames:
            rel = rel_dir / name
            wanted.add(rel)
            src = src_root / rel
            dst = dst_root / rel
            if src.is_symlink():
                continue
            if dst.is_file() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for dirpath, dirnames, filenames in os.walk(dst_root):
        rel_dir = Path(dirpath).relative_to(dst_root)
        dirnames[:] = [d for d in dirnames if not skip_dir(rel_dir / d)]
        for name in filenames:
            if rel_dir / name not in wanted:
                (dst_root / rel_dir / name).unlink()


def run(cmd, cwd, timeout, log):
    """Runs cmd, appends its output to log; returns (ok, seconds). The command runs in its
    own process group, which is terminated on a timeout or when this script is stopped."""
    start = time.monotonic()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(str(c) for c in cmd)}\n")
        out.flush()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            out.write(f"[timed out after {timeout} s]\n")
            stop_group(proc)
            return False, time.monotonic() - start
        except BaseException:
            stop_group(proc)
            raise
        ok = proc.returncode == 0
        if not ok:
            out.write(f"[exit status {proc.returncode}]\n")
    return ok, time.monotonic() - start


def stop_group(proc):
    # SIGTERM first: ninja then stops the compilers it started in their own groups.
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Runner:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.source = Path(args.source).resolve()
        self.src = self.work / "src"
        self.build = self.work / "build"
        self.logs = self.work / "logs"
        self.replays = []  # (target, corpus dir)

    def configure(self):
        self.src.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        sync_tree(self.source, self.src)
        for rel in self.args.without:
            victim = self.src / rel
            if not victim.is_file():
                fail(f"--without {rel}: no such file in the source tree")
            victim.unlink()
        unit_dir = self.src / "tests" / "unit"
        self.quick = [f"unit/{name}.cpp" for name in ["main"] + list(QUICK_UNIT_FILES)
                      if (unit_dir / f"{name}.cpp").is_file()] if not self.args.no_quick else []
        if self.quick:
            with open(self.src / "tests" / "CMakeLists.txt", "a") as cmake:
                cmake.write(QUICK_CMAKE.format(target=QUICK_TARGET, sources=" ".join(self.quick)))
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        log = self.logs / "configure.log"
        log.write_text("")
        ok, _ = run(["cmake", "-S", self.src, "-B", self.build, *generator, "-DCMAKE_BUILD_TYPE=Release",
                     f"-DCMAKE_CXX_FLAGS_RELEASE={self.args.opt} -DNDEBUG", "-DCMAKE_CXX_COMPILER=g++",
                     "-DRILL_BUILD_BENCHMARKS=OFF"], self.work, BUILD_TIMEOUT, log)
        if not ok:
            fail(f"configuring the scratch build failed; see {log}")
        help_log = self.logs / "targets.log"
        help_log.write_text("")
        run(["cmake", "--build", self.build, "--target", "help"], self.work, 120, help_log)
        targets = help_log.read_text()
        for corpus in sorted((self.src / "fuzz" / "corpus").glob("*")):
            target = f"rill_fuzz_replay_{corpus.name}"
            if corpus.is_dir() and target in targets:
                self.replays.append((target, corpus))
        # Every program a directory's tests start (Ninja names a directory's targets <dir>/all).
        phony = subprocess.run(["ninja", "-C", str(self.build), "-t", "targets", "all"], capture_output=True,
                               text=True).stdout if generator else ""
        def directory(path, fallback):
            return [f"{path}/all"] if f"{path}/all:" in phony else [t for t in fallback if t in targets]
        self.wire_targets = directory("tests/wire", ("rill_wire_server",))
        # The examples label also runs test programs of its own (the Scheduler contract).
        self.example_targets = (directory("examples", ("hello_deferred", "sse_clock")) +
                                directory("tests/examples", ("rill_loop_scheduler_test",)))

    def build_targets(self, targets, log):
        if not targets:
            return True
        ok, _ = run(["cmake", "--build", self.build, "-j", str(self.args.jobs), "--target", *targets],
                    self.work, BUILD_TIMEOUT, log)
        return ok

    def find_binary(self, name):
        for path in self.build.rglob(name):
            if path.is_file() and os.access(path, os.X_OK):
                return path
        fail(f"built target {name} not found under {self.build}")

    def label(self, label, log):
        """Builds what `label` needs and runs it; True when every test passed."""
        if label == "unit":
            # The quick subset first; the whole unit binary only for a mutant that passes it.
            for target in ([QUICK_TARGET] if self.quick else []) + ["rill_unit_tests"]:
                if not self.build_targets([target], log):
                    return None
                start = log.stat().st_size
                ok = run([self.find_binary(target), "--no-intro", "--minimal"], self.build, UNIT_TIMEOUT, log)[0]
                with open(log, errors="replace") as f:
                    f.seek(start)
                    self.unit_files = sorted(set(UNIT_FAILURE.findall(f.read())))
                if not ok:
                    self.unit_binary = target
                    return False
            return True
        if label == "fuzz":
            if not self.build_targets([t for t, _ in self.replays], log):
                return None
            for target, corpus in self.replays:
                if not run([self.find_binary(target), corpus, "0", "60"], self.build, REPLAY_TIMEOUT, log)[0]:
                    return False
            return True
        if label in ("wire", "examples", "random"):
            needs = {"wire": self.wire_targets, "examples": self.example_targets,
                     "random": [t for t, _ in self.replays]}[label]
            if not self.build_targets(needs, log):
                return None
            ctest_label = "fuzz" if label == "random" else label
            return run(["ctest", "-L", f"^{ctest_label}$", "--output-on-failure", "-j", str(self.args.jobs)],
                       self.build, CTEST_TIMEOUT, log)[0]
        raise ValueError(label)

    def evaluate(self, log):
        """Runs the labels in order; returns a dict label -> 'pass' | 'KILLED' | 'build' | '-'."""
        result = {label: "-" for label in DETERMINISTIC_LABELS}
        result["random"] = "-"
        self.unit_files = []
        self.unit_binary = None
        killed = False
        for label in DETERMINISTIC_LABELS:
            if killed and not self.args.all_labels:
                break
            outcome = self.label(label, log)
            if outcome is None:
                result["build"] = True
                break
            result[label] = "pass" if outcome else "KILLED"
            killed = killed or not outcome
        if self.args.with_random and not result.get("build"):
            outcome = self.label("random", log)
            result["random"] = "build" if outcome is None else ("pass" if outcome else "KILLED")
        result["unit_files"] = self.unit_files
        result["unit_binary"] = self.unit_binary
        return result


def killer(result):
    if result.get("build"):
        return "build"
    for label in DETERMINISTIC_LABELS:
        if result[label] == "KILLED":
            return label
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only mutants matching NAME (a glob; repeatable)")
    parser.add_argument("--extended", action="store_true",
                        help="also run the mutants of the extended set (set: extended in mutations.txt)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel build jobs (default 2)")
    parser.add_argument("--with-random", action="store_true",
                        help="also run the generated-input fuzz replay (ctest -L fuzz), reported apart")
    parser.add_argument("--all-labels", action="store_true",
                        help="run every label even after one killed the mutant (slower)")
    parser.add_argument("--work", default="/tmp/rill-mutation", help="scratch directory (default %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--opt", default="-O0", metavar="FLAG",
                        help="optimisation flags of the Release build (default -O0: every mutant rebuilds "
                             "every unit test, and -O0 compiles them in about a third of -O3's time)")
    parser.add_argument("--without", action="append", default=[], metavar="FILE",
                        help="leave this test file (path from the repository root) out of the scratch copy, "
                             "e.g. to see which mutants only it kills (repeatable)")
    parser.add_argument("--from", dest="start_at", metavar="NAME",
                        help="start at this mutant (to resume an interrupted run)")
    parser.add_argument("--no-quick", action="store_true",
                        help="always build and run the whole unit binary (no quick subset first)")
    parser.add_argument("--source", default=str(ROOT), metavar="DIR",
                        help="the tree to copy and mutate (default: this working tree)")
    args = parser.parse_args()

    mutations = parse_mutations(MUTATIONS_FILE)
    check_snippets(mutations, Path(args.source))
    if args.only:
        mutations = [m for m in mutations if any(fnmatch.fnmatchcase(m.name, p) for p in args.only)]
    elif not args.extended:
        mutations = [m for m in mutations if not m.extended]
    if args.only and not mutations:
        fail("--only matched no mutant")
    if args.start_at:
        names = [m.name for m in mutations]
        if args.start_at not in names:
            fail(f"--from {args.start_at}: no such mutant in this selection")
        mutations = mutations[names.index(args.start_at):]
    if args.list:
        for m in mutations:
            extra = f"  [equivalent: {m.equivalent}]" if m.equivalent else ""
            extra += "  [extended]" if m.extended else ""
            print(f"{m.name:40} {m.path:38} {m.desc}{extra}")
        print(f"{len(mutations)} mutants")
        return 0

    try:
        os.nice(10)
    except OSError:
        pass
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    runner = Runner(args)
    runner.configure()
    check_snippets(mutations, runner.src)
    print(f"scratch copy {runner.src}, build {runner.build}; fuzz replays: "
          f"{', '.join(t for t, _ in runner.replays) or 'none'}", flush=True)

    # The unmutated tree must pass every label, or every mutant would look killed.
    log = runner.logs / "baseline.log"
    log.write_text("")
    base_start = time.monotonic()
    baseline = runner.evaluate(log)
    for label in DETERMINISTIC_LABELS + (("random",) if args.with_random else ()):
        if baseline.get("build") or baseline[label] != "pass":
            fail(f"the unmutated tree fails at {label}; see {log}")
    print(f"baseline: every label passes ({time.monotonic() - base_start:.0f} s)", flush=True)

    results = []
    try:
        for index, m in enumerate(mutations, 1):
            target = runner.src / m.path
            original_text = target.read_text()
            log = runner.logs / f"{m.name}.log"
            log.write_text(f"{m.name}: {m.desc}\n--- original\n{m.original}\n+++ replacement\n{m.replacement}\n")
            start = time.monotonic()
            target.write_text(original_text.replace(m.original, m.replacement, 1))
            try:
                result = runner.evaluate(log)
            finally:
                target.write_text(original_text)
            seconds = time.monotonic() - start
            who = killer(result)
            results.append({"name": m.name, "file": m.path, "desc": m.desc, "equivalent": m.equivalent,
                            "killed_by": who, "labels": result, "seconds": round(seconds, 1)})
            cols = " ".join(f"{label}={result[label]}" for label in DETERMINISTIC_LABELS)
            if args.with_random:
                cols += f" random={result['random']}"
            files = f"  [{', '.join(result['unit_files'])}]" if result["unit_files"] else ""
            print(f"[{index:3}/{len(mutations)}] {m.name:40} {(who or 'SURVIVED'):9} {seconds:5.0f} s  {cols}{files}",
                  flush=True)
    finally:
        # Leave the scratch copy equal to the working tree (a restore above already did).
        sync_tree(runner.source, runner.src)

    total_seconds = time.monotonic() - started
    report(results, args, total_seconds)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(total_seconds), "with_random": args.with_random, "mutants": results}, indent=2))
    return 0


def report(results, args, total_seconds):
    print()
    header = (f"{'mutant':40} {'file':34} {'killed by':10}" + (" random " if args.with_random else "") +
              " unit test files that failed")
    print(header)
    print("-" * len(header))
    for r in results:
        who = r["killed_by"] or ("equivalent" if r["equivalent"] else "SURVIVED")
        line = f"{r['name']:40} {r['file'].replace('include/rill/', ''):34} {who:10}"
        if args.with_random:
            line += f" {r['labels']['random']:7}"
        if r["labels"].get("unit_files"):
            line += " " + ", ".join(f.replace(".cpp", "") for f in r["labels"]["unit_files"])
        print(line)

    counts = {}
    for r in results:
        counts[r["killed_by"] or "survived"] = counts.get(r["killed_by"] or "survived", 0) + 1
    built = [r for r in results if r["killed_by"] != "build"]
    scored = [r for r in built if not r["equivalent"]]
    killed = [r for r in scored if r["killed_by"] in DETERMINISTIC_LABELS]
    print()
    print(f"{len(results)} mutants: " + ", ".join(
        f"{label} {counts.get(label, 0)}" for label in ("build",) + DETERMINISTIC_LABELS + ("survived",)))
    equivalent = [r for r in built if r["equivalent"]]
    if equivalent:
        print(f"equivalent (kept, not scored): {', '.join(r['name'] for r in equivalent)}")
    survivors = [r for r in scored if r["killed_by"] is None]
    if survivors:
        print("survivors:")
        for r in survivors:
            extra = f" (random fuzz replay: {r['labels']['random']})" if args.with_random else ""
            print(f"  {r['name']}: {r['desc']}{extra}")
    if scored:
        print(f"killed by deterministic tests: {len(killed)}/{len(scored)} = "
              f"{100.0 * len(killed) / len(scored):.1f}% of the mutants that compile"
              + (f" ({len(equivalent)} equivalent left out)" if equivalent else ""))
    if args.with_random:
        extra = [r for r in survivors if r["labels"]["random"] == "KILLED"]
        print(f"generated-input fuzz replay kills {len(extra)} of the {len(survivors)} survivors")
    print(f"run time {total_seconds / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())

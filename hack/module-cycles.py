#!/usr/bin/env python3
"""Reports import cycles between the modules of each workspace crate.

A module is one source file (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`). Module A depends
on module B when A's code names an item that B defines: `crate::…`, `super::…` and
`self::…` paths (in `use` declarations and inline) are resolved to the deepest module
file they reach, and names that a module only re-exports (`pub use load::LoraError;`) are
followed to the module that defines them. A parent declaring or re-exporting its children
is structure, not a dependency; a child using its parent's own items is a dependency.
Test modules (`#[cfg(test)] mod tests` blocks and `tests.rs` files) are left out: a test
may use anything.

Prints every strongly connected component with more than one module and exits 1 if there
is any, 0 otherwise. Usage: hack/module-cycles.py [CRATE_DIR ...] (default: every
workspace member with a `src/`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

USE_RE = re.compile(r"\buse\s+([^;]+);", re.S)
PATH_RE = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
PUB_USE_RE = re.compile(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", re.S)
TEST_MOD_RE = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{")
COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING_RE = re.compile(r'r#*"(?:.|\n)*?"#*|"(?:\\.|[^"\\])*"')


def strip_test_blocks(text: str) -> str:
    """Removes `#[cfg(test)] mod x { … }` blocks (brace matching on comment-free text)."""
    out, pos = [], 0
    for m in TEST_MOD_RE.finditer(text):
        if m.start() < pos:
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[pos : m.start()])
        pos = i
    out.append(text[pos:])
    return "".join(out)


def clean(text: str) -> str:
    text = STRING_RE.sub('""', COMMENT_RE.sub("", text))
    return strip_test_blocks(text)


def expand_use_tree(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`] (aliases and globs dropped)."""
    tree = re.sub(r"\s+", "", tree)
    # Find the first top-level brace group.
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                parts, d, cur = [], 0, ""
                for c in inner:
                    if c == "," and d == 0:
                        parts.append(cur)
                        cur = ""
                        continue
                    d += {"{": 1, "}": -1}.get(c, 0)
                    cur += c
                parts.append(cur)
                result = []
                for p in parts:
                    if not p:
                        continue
                    if p == "self":
                        result.append(prefix.rstrip(":"))
                    else:
                        result.extend(expand_use_tree(prefix + p + rest))
                return result
    tree = tree.split("as")[0] if re.search(r"\bas\b", tree) else tree
    return [tree.removesuffix("::*")]


class Crate:
    def __init__(self, src: Path):
        self.src = src
        self.modules: dict[tuple[str, ...], str] = {}  # module path -> cleaned text
        for f in sorted(src.rglob("*.rs")):
            rel = f.relative_to(src).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            if parts and parts[-1] in ("tests", "test") or "bin" in parts[:1]:
                continue
            self.modules[tuple(parts)] = clean(f.read_text())
        self.reexports = {m: self._reexports(m, t) for m, t in self.modules.items()}

    def _absolute(self, module: tuple[str, ...], path: str) -> tuple[str, ...] | None:
        segs = path.split("::")
        if segs[0] == "crate":
            base, segs = [], segs[1:]
        elif segs[0] in ("self", "super"):
            base = list(module)
            while segs and segs[0] in ("self", "super"):
                if segs[0] == "super":
                    if not base:
                        return None
                    base.pop()
                segs = segs[1:]
        else:
            # A use path relative to the current module (a child module or a re-export).
            base = list(module)
            if tuple(base + segs[:1]) not in self.modules:
                return None
        return tuple(base + segs)

    def _reexports(self, module, text) -> dict[str, tuple[str, ...]]:
        names = {}
        for m in PUB_USE_RE.finditer(text):
            for path in expand_use_tree(m.group(1)):
                absolute = self._absolute(module, path)
                if absolute:
                    names[absolute[-1]] = absolute
        return names

    def resolve(self, path: tuple[str, ...], depth: int = 0) -> tuple[str, ...] | None:
        """The module that defines the item `path` names (or the module it names)."""
        for cut in range(len(path), -1, -1):
            module = path[:cut]
            if module in self.modules:
                rest = path[cut:]
                if rest and depth < 8 and rest[0] in self.reexports.get(module, {}):
                    target = self.reexports[module][rest[0]]
                    if target != path:
                        return self.resolve(target + rest[1:], depth + 1) or module
                return module
        return None

    def edges(self):
        for module, text in self.modules.items():
            paths = set(PATH_RE.findall(text))
            for m in USE_RE.finditer(text):
                if m.group(0).lstrip().startswith("pub"):
                    pass
                paths.update(expand_use_tree(m.group(1)))
            # `pub use` of a child's items is structure, not a dependency.
            reexported = set()
            for m in PUB_USE_RE.finditer(text):
                reexported.update(expand_use_tree(m.group(1)))
            for path in paths:
                absolute = self._absolute(module, path)
                if absolute is None:
                    continue
                target = self.resolve(absolute)
                if target is None or target == module:
                    continue
                # A parent naming its own descendants is structure.
                if target[: len(module)] == module:
                    continue
                if path in reexported and target[: len(module)] == module:
                    continue
                yield module, target


def cycles(crate: Crate) -> list[list[str]]:
    graph: dict[tuple, set] = {m: set() for m in crate.modules}
    for a, b in crate.edges():
        graph[a].add(b)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strongconnect(v)
    named = []
    for comp in out:
        members = set(comp)
        detail = []
        for a in sorted(comp):
            for b in sorted(graph[a] & members):
                detail.append(f"{'::'.join(a) or 'crate'} -> {'::'.join(b) or 'crate'}")
        named.append(detail)
    return named


def members() -> list[Path]:
    text = (ROOT / "Cargo.toml").read_text()
    m = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    dirs = [ROOT] + [ROOT / d.strip().strip('"') for d in m.group(1).split(",") if d.strip()]
    return [d for d in dirs if (d / "src").is_dir()]


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv] or members()
    found = 0
    for d in dirs:
        crate = Crate(d / "src")
        for comp in cycles(crate):
            found += 1
            print(f"{d.relative_to(ROOT) if d.is_absolute() else d}: cycle")
            for line in comp:
                print(f"    {line}")
        print(f"{d.name or 'netgpt'}: {len(crate.modules)} modules checked", file=sys.stderr)
    if found:
        print(f"{found} import cycle(s)")
        return 1
    print("no import cycles between modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Checks the code in the docs: every ```cpp block of docs/*.md and README.md
compiles against the in-tree public headers, the option tables of
docs/options.md match the defaults compiled into the headers, and the error
codes, options and counters the pages and header comments name exist.

Usage: check_docs.py --root DIR [--defaults EXE] [--jobs N] -- CXX [ARGS...]

How a ```cpp block is treated (docs/README.md documents it for writers):
  first line `// fragment`          not compiled (a sketch with elisions)
  first line `// file: PATH`        must equal the file PATH (relative to the root),
                                    which the build compiles and the suite runs
  first line `// from: PATH`        must appear, line for line, in PATH (an excerpt)
  first line `// declarations`      compiled at namespace scope after the prelude
  a line starting `int main(`       a whole program: compiled on its own, as is
  anything else                     a snippet: its #include lines go to the top and
                                    the rest becomes the body of a coroutine that is
                                    given the names of PRELUDE below
The snippets and declarations of all pages share one translation unit (compiled
with -fsyntax-only; errors point at the markdown line through #line), so the
check takes seconds.
"""
import argparse
import concurrent.futures
import pathlib
import re
import subprocess
import sys
import tempfile

PRELUDE = """\
#include <capi/client.hpp>
#include <capi/clock.hpp>
#include <capi/encode.hpp>
#include <capi/errors.hpp>
#include <capi/event.hpp>
#include <capi/ndjson.hpp>
#include <capi/normalize.hpp>
#include <capi/retry.hpp>
#include <capi/sender.hpp>
#include <capi/sha256.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>
#include <capi/validate.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <vector>

namespace net = boost::asio;
using namespace std::chrono_literals;
"""

# The names every snippet may use without declaring them (a snippet may declare
# its own of the same name: its body is a nested scope).
GIVEN = ("std::string token, std::string app_secret, capi::Event ev, capi::Event ev2, "
         "std::vector<capi::Event> events, capi::Client& client, net::any_io_executor executor")

FENCE = re.compile(r"^```(\w*)\s*$")


class Block:
    def __init__(self, path, line, lang, lines):
        self.path, self.line, self.lang, self.lines = path, line, lang, lines

    @property
    def where(self):
        return f"{self.path}:{self.line}"


def blocks_of(path, rel):
    out, cur, lang, start = [], None, None, 0
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = FENCE.match(text)
        if cur is None and m:
            cur, lang, start = [], m.group(1), n + 1
        elif cur is not None and text.strip() == "```":
            out.append(Block(rel, start, lang, cur))
            cur = None
        elif cur is not None:
            cur.append(text)
    if cur is not None:
        raise SystemExit(f"{rel}:{start - 1}: unterminated code block")
    return out


def kind_of(block):
    first = block.lines[0].strip() if block.lines else ""
    if first == "// fragment":
        return "fragment", None
    for key in ("file", "from"):
        if first.startswith(f"// {key}:"):
            return key, first.split(":", 1)[1].strip()
    if first == "// declarations":
        return "declarations", None
    if any(l.startswith("int main(") for l in block.lines):
        return "program", None
    return "snippet", None


def line_directive(block, offset=0):
    return f'#line {block.line + offset} "{block.path}"'


def snippet_tu(blocks):
    """One TU for the snippets and declarations of every page."""
    includes, parts = [], []
    for i, (b, kind) in enumerate(blocks):
        body = []
        for k, l in enumerate(b.lines):
            if l.startswith("#include"):
                includes.append(l)
                body.append("")  # keep line numbers
            else:
                body.append(l)
        if kind == "declarations":
            parts.append(f"namespace doc_block_{i} {{\n{line_directive(b)}\n" + "\n".join(body) + "\n}\n")
        else:
            parts.append(f"[[maybe_unused]] net::awaitable<void> doc_block_{i}({GIVEN}) {{\n{{\n"
                         f"{line_directive(b)}\n" + "\n".join(body) + "\n}\nco_return;\n}\n")
    return PRELUDE + "\n".join(includes) + "\n" + "\n".join(parts)


def compile_tu(cxx, source, name):
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", prefix="capi_docs_", delete=False) as f:
        f.write(source)
        tmp = f.name
    try:
        r = subprocess.run(cxx + ["-fsyntax-only", tmp], capture_output=True, text=True)
        return name, r.returncode, r.stdout + r.stderr
    finally:
        pathlib.Path(tmp).unlink(missing_ok=True)


def check_excerpt(root, b, kind, target):
    f = root / target
    if not f.is_file():
        return f"{b.where}: `// {kind}: {target}`: no such file"
    want = b.lines[1:]
    have = f.read_text(encoding="utf-8").splitlines()
    if kind == "file":
        if want != have:
            diff = next((i for i, (x, y) in enumerate(zip(want, have)) if x != y), min(len(want), len(have)))
            return (f"{b.where}: the block differs from {target} at its line {diff + 1} "
                    f"(copy the file into the block)")
        return None
    n = len(want)
    if n == 0 or not any(have[i:i + n] == want for i in range(len(have) - n + 1)):
        return f"{b.where}: the block is not an excerpt of {target} (lines must match exactly)"
    return None


# ---------------------------------------------------------------- option defaults

TABLE_HEAD = re.compile(r"^## `capi::(?:testing::)?(\w+)`")


def option_tables(path):
    """{struct: {field: default cell}} from docs/options.md: one table per `## `capi::X`` heading."""
    tables, current = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = TABLE_HEAD.match(line)
        if m:
            current = tables.setdefault(m.group(1), {})
            continue
        if line.startswith("## "):
            current = None
        if current is None or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        field = cells[0].strip("`")
        current[field] = cells[2] if len(cells) > 2 else ""
    return tables


def header_fields(root, header, struct):
    """Names of the data members of `struct` in `header` (one declaration per line,
    several names per declaration allowed)."""
    text = (root / header).read_text(encoding="utf-8").splitlines()
    fields, inside, depth = [], False, 0
    for line in text:
        if not inside:
            if re.match(rf"^struct {struct} \{{", line):
                inside, depth = True, 1
            continue
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            break
        code = line.split("///")[0].split("//")[0]
        # "}": the closing line of a nested struct (Options::Concurrency), not a member.
        if depth == 1 and code.strip() and not code.strip().startswith(("enum", "static", "friend", "}")) \
                and "(" not in code:
            decl = code.strip().rstrip(";")
            if not decl:
                continue
            # `std::uint64_t a = 0, b = 0;` or `std::optional<std::string> x, y,` continued
            decl = re.sub(r"\{[^}]*\}", "", decl)
            decl = re.sub(r"=[^,]*", "", decl)
            names = [p.strip().split()[-1] for p in decl.split(",") if p.strip()]
            fields += [n.strip("*&") for n in names]
    return fields


def check_defaults(root, exe):
    errors = []
    r = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return [f"{exe} failed: {r.stderr}"]
    printed = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition("\t")
        struct, _, field = key.partition(".")
        printed.setdefault(struct, {})[field] = value
    errors += check_other_tables(root, printed)
    doc = root / "docs/options.md"
    tables = option_tables(doc)
    headers = {"Options": "include/capi/client.hpp", "Destination": "include/capi/client.hpp",
               "TransportOptions": "include/capi/transport.hpp", "RetryPolicy": "include/capi/retry.hpp",
               "EncodeOptions": "include/capi/encode.hpp", "ValidationOptions": "include/capi/validate.hpp",
               "RequestFields": "include/capi/event.hpp",
               "MockOptions": "include/capi/testing/mock_graph.hpp"}
    for struct, header in headers.items():
        table = tables.get(struct)
        if table is None:
            errors.append(f"docs/options.md: no table for capi::{struct} (a `## `capi::{struct}`` section)")
            continue
        for field in header_fields(root, header, struct):
            if field not in table:
                errors.append(f"docs/options.md: capi::{struct}::{field} ({header}) is not documented")
        for field, cell in table.items():
            if field not in printed.get(struct, {}):
                errors.append(f"docs/options.md: capi::{struct}::{field} is documented but "
                              f"docs/tests/option_defaults.cpp does not print it (or it no longer exists)")
            elif printed[struct][field] != cell:
                errors.append(f"docs/options.md: capi::{struct}::{field}: the table says {cell!r}, "
                              f"the code says {printed[struct][field]!r}")
    return errors


UNITS = {"ms": 0.001, "s": 1, "seconds": 1, "second": 1, "min": 60, "day": 86400, "days": 86400,
         "bytes": 1, "KiB": 1024, "MiB": 1024 * 1024}
OTHER_HEAD = re.compile(r"^## .*\(`capi::(\w+)`\)")


def canonical(value):
    """A default as a comparable value: "3000 ms" == "3 s", "64 KiB" == "65536 bytes";
    backticked words stay words; None when the cell is prose ("see transport.md")."""
    v = value.strip().strip("`").strip()
    m = re.fullmatch(r"([\d.]+)\s*(\w+)?", v)
    if m and (m.group(2) is None or m.group(2) in UNITS):
        return round(float(m.group(1)) * UNITS.get(m.group(2) or "s", 1) if m.group(2) else float(m.group(1)), 6)
    if v in ("true", "false") or (re.fullmatch(r"[\w./:-]+", v) and value.strip().startswith("`")):
        return v
    return None


def check_other_tables(root, printed):
    """The option tables other pages keep (client.md, transport.md, validation.md):
    under a `## ... (`capi::X`)` heading, every row whose default parses must match."""
    errors = []
    for doc in sorted((root / "docs").glob("*.md")):
        if doc.name == "options.md":
            continue
        struct, header = None, None
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            m = OTHER_HEAD.match(line)
            if line.startswith("## "):
                struct, header = (m.group(1) if m else None), None
                continue
            if struct not in printed or not line.startswith("|"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = [c.lower() for c in cells]
                continue
            if "default" not in header or not cells[0].startswith("`"):
                continue
            di = header.index("default")
            names = re.findall(r"`(\w+)`", cells[0])
            values = [v.strip() for v in cells[di].split(",")] if len(names) > 1 else [cells[di]]
            unit = cells[header.index("unit")] if "unit" in header else ""
            for name, value in zip(names, values):
                if name not in printed[struct]:
                    errors.append(f"{doc.relative_to(root)}:{n}: capi::{struct} has no field {name}")
                    continue
                if unit in UNITS and re.fullmatch(r"[\d.]+", value):
                    value = f"{value} {unit}"
                want, have = canonical(value), canonical(printed[struct][name])
                if want is not None and have is not None and want != have:
                    errors.append(f"{doc.relative_to(root)}:{n}: capi::{struct}::{name}: the page says "
                                  f"{value!r}, the code says {printed[struct][name]!r}")
    return errors


# Names of the shape of capi::errc's enumerators and of the options and
# counters around them ("connect_failed", "request_timeout", "queue_full"): a
# page or a header comment that names one names something the code declares.
ERROR_LIKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)*_(?:failed|error|timeout|refused|exhausted|full|lost)\b")


# Names of that shape that belong to other programs.
OUTSIDE_NAMES = {"halt_on_error"}  # UBSAN_OPTIONS (docs/fuzzing.md)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def check_names(root):
    """Every error-like name in the docs' backticks and the public headers'
    comments is declared by the public headers; every capi::errc enumerator is
    in docs/errors.md."""
    headers = sorted((root / "include" / "capi").rglob("*.hpp")) + sorted((root / "include" / "capi").rglob("*.in"))
    code = "\n".join(strip_comments(h.read_text()) for h in headers)
    declared = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", code))
    errors = []

    def check(where, name):
        if name not in declared and name not in OUTSIDE_NAMES:
            errors.append(f"{where}: `{name}` is not declared by include/capi/ (a renamed error code or option?)")

    for doc in sorted((root / "docs").rglob("*.md")) + [root / "README.md"]:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            for span in re.findall(r"`([^`]+)`", line):
                for name in ERROR_LIKE.findall(span):
                    check(f"{doc.relative_to(root)}:{n}", name)
    for h in headers:
        for n, line in enumerate(h.read_text().splitlines(), 1):
            comment = line.split("//", 1)[1] if "//" in line else ""
            for name in ERROR_LIKE.findall(comment):
                check(f"{h.relative_to(root)}:{n}", name)

    errc = re.search(r"enum class errc \{(.*?)\};", strip_comments((root / "include/capi/errors.hpp").read_text()), re.S)
    page = (root / "docs" / "errors.md").read_text()
    for name in re.findall(r"\b([a-z_]+)\s*(?:=\s*\d+)?\s*,", errc.group(1) + ","):
        if f"`{name}`" not in page:
            errors.append(f"docs/errors.md: capi::errc::{name} is not in the page")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, type=pathlib.Path)
    ap.add_argument("--defaults", help="the option_defaults program (checks docs/options.md)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("cxx", nargs="+", help="compiler and flags, after --")
    args = ap.parse_args()
    root = args.root.resolve()
    cxx = args.cxx + ["-std=c++20", "-I", str(root / "include"), "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                      "-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-parameter",
                      "-Wno-unused-local-typedefs"]

    files = sorted((root / "docs").rglob("*.md")) + [root / "README.md"]
    errors, jobs, counts, tu_blocks = [], [], {}, []
    for f in files:
        rel = str(f.relative_to(root))
        for b in blocks_of(f, rel):
            if b.lang not in ("cpp", "c++"):
                continue
            kind, target = kind_of(b)
            counts[kind] = counts.get(kind, 0) + 1
            if kind in ("file", "from"):
                e = check_excerpt(root, b, kind, target)
                if e:
                    errors.append(e)
            elif kind == "program":
                src = line_directive(b) + "\n" + "\n".join(b.lines) + "\n"
                jobs.append((src, b.where))
            elif kind in ("snippet", "declarations"):
                tu_blocks.append((b, kind))
    if tu_blocks:
        jobs.append((snippet_tu(tu_blocks), "the snippets"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name, rc, out in pool.map(lambda j: compile_tu(cxx, *j), jobs):
            if rc != 0:
                errors.append(f"{name}: does not compile:\n{out}")

    if args.defaults:
        errors += check_defaults(root, args.defaults)
    errors += check_names(root)

    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"docs: {len(files)} files, cpp blocks: {summary}; {len(jobs)} translation units")
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""Code blocks of README.md and docs/*.md: extraction, the limits applied when running them.

Every fenced block carries a language. ``bash`` and ``console`` blocks are commands (in a
``console`` block only the lines after ``$ `` and their ``\\`` continuations), ``python``
blocks are scripts; ``text``, ``yaml`` and ``json`` blocks are output, synopses and files,
not run. A block that cannot run offline in a temp dir is preceded by
``<!-- notest: reason -->``; the test counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ("bash", "console", "python")
NOT_RUN = ("text", "yaml", "json")
_FENCE = re.compile(r"^```(\S*)\s*$")
_NOTEST = re.compile(r"^<!--\s*notest:\s*(.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text, and why it is not run (if so)."""

    file: str
    line: int
    lang: str
    text: str
    notest: str | None

    @property
    def id(self) -> str:
        """``README.md:29`` (the opening fence's line)."""
        return f"{self.file}:{self.line}"

    def script(self) -> str:
        """What runs: the bash script of a shell block, the Python source of a python block."""
        if self.lang != "console":
            return self.text
        out: list[str] = []
        going = False
        for line in self.text.splitlines():
            if line.startswith("$ "):
                out.append(line[2:])
            elif going:
                out.append(line)
            else:
                continue
            going = line.rstrip().endswith("\\")
        return "\n".join(out) + "\n"


def doc_files() -> list[Path]:
    """README.md and every docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = str(path.relative_to(ROOT))
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        note = _NOTEST.match(prev.strip())
        text = "\n".join(lines[i + 1 : j]) + "\n"
        out.append(Block(rel, i + 1, m.group(1), text, note.group(1) if note else None))
        i = j + 1
    return out


def all_blocks() -> list[Block]:
    """Every fenced block of every documentation file."""
    return [b for f in doc_files() for b in blocks(f)]


# Small limits for the suite (2 shared cores): sizes of data and time only, never the verb,
# the model or a flag's meaning. Applied to shell commands and Python source alike.
LIMITS: tuple[tuple[str, str], ...] = (
    (r"\bphotos:\d+", "photos:16"),
    (r"(--calib|--data|--eval) photos(?=\s|$)", r"\1 photos:16"),
    (r"--duration \d+", "--duration 1"),
    (r"--calib-samples \d+", "--calib-samples 16"),
    (r"samples=256", "samples=16"),
    (r"limit=\d+", "limit=64"),
    (r"\"photos:\d+\"", '"photos:16"'),
    (r"--finetune-epochs \d+", "--finetune-epochs 1"),
    (r"--prune-epochs \d+", "--prune-epochs 1"),
    (r"epochs=\d+, train=(\"[^\"]+\")", r"epochs=1, train=\1, limit=512"),
)


# Commands that would read a whole dataset or search for minutes get their own limit flag
# when they have none: `optimize` a time budget, `eval` and `compare` a sample limit.
_ADDED = (
    ("optimize", "--time-budget", "0.5"),
    ("optimize", "--eval-limit", "256"),
    ("eval", "--limit", "256"),
    ("compare", "--limit", "64"),
    ("prune", "--train-limit", "512"),
    ("prune", "--eval-limit", "256"),
    ("optimize", "--prune-train-limit", "512"),
)


def _with_flag(script: str, verb: str, flag: str, value: str) -> str:
    command = re.compile(
        rf"^(edgeinfer {verb} (?:[^\n#]*\\\n)*[^\n#]*?)(\s*#[^\n]*)?$", re.MULTILINE
    )
    def add(m: re.Match[str]) -> str:
        needs = _NEEDS.get(flag)
        if flag in m.group(1) or (needs is not None and needs not in m.group(1)):
            return m.group(0)
        return f"{m.group(1)} {flag} {value}{m.group(2) or ''}"

    return command.sub(add, script)


# A limit flag that only makes sense together with another one.
_NEEDS = {"--train-limit": "--train ", "--prune-train-limit": "--prune-train ", "--eval-limit": "--eval "}


def limited(script: str) -> str:
    """``script`` with the data and time limits of :data:`LIMITS` applied."""
    for pattern, repl in LIMITS:
        script = re.sub(pattern, repl, script, flags=re.MULTILINE)
    script = re.sub(r"--time-budget \d+(\.\d+)?", "--time-budget 0.5", script)
    for verb, flag, value in _ADDED:
        script = _with_flag(script, verb, flag, value)
    return script

"""``benchmarks/RESULTS.md`` holds one section per benchmark; each script rewrites only its own.

A section is the text between ``<!-- begin NAME -->`` and ``<!-- end NAME -->`` lines; the
accuracy benchmark (``benchmarks/m3/run.py``) writes ``accuracy``, the speed benchmark
(``benchmarks/speed/run.py --results``) writes ``speed``.
"""

from __future__ import annotations

from pathlib import Path

TITLE = "# metacompose benchmark results\n"


def write_section(path: str | Path, name: str, body: str) -> Path:
    """Replace the section ``name`` of the results file ``path`` by ``body``, or append it.

    The other sections and any text outside sections are kept as they are; a missing file is
    created with a title.

    Returns:
        the path written.
    """
    path = Path(path)
    start, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else TITLE
    if start in text and end in text[text.index(start):]:
        a = text.index(start)
        b = text.index(end, a) + len(end)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    return path


class RunLog:
    """A benchmark's ``echo``: prints each line at once and keeps it for the results file's run log.

    Call it like ``print`` with one value; ``lines`` holds what was printed, as strings.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text="") -> None:
        print(text, flush=True)
        self.lines.append(str(text))

"""The doctor's findings: one line per check, with ✔ / ✘ and, on ✘, what to do.

Besides pass and fail a check can be a warning (⚠: works, but not as well as it could)
or not applicable (–: e.g. the endpoint when none is set). Only a failure makes the
report fail (the CLI's exit status, `ok` in the editor's report).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"
MARKS = {OK: "✔", FAIL: "✘", WARN: "⚠", SKIP: "–"}
# For terminals that cannot print the marks (a legacy Windows code page).
ASCII_MARKS = {OK: "[ok]", FAIL: "[FAIL]", WARN: "[warn]", SKIP: "[-]"}


@dataclass(frozen=True)
class Check:
    """One finding. `fix` says what to do (shown for ✘ and ⚠); `block` is verbatim text
    shown under the line (the exact prompt template)."""

    name: str
    status: str
    detail: str
    fix: str = ""
    block: str = ""

    @property
    def mark(self) -> str:
        return MARKS[self.status]

    @property
    def advice(self) -> str:
        return self.fix if self.status in (FAIL, WARN) else ""

    def line(self, marks: dict[str, str] = MARKS) -> str:
        text = f"{marks[self.status]} {self.name}: {self.detail}"
        return f"{text} Fix: {self.advice}" if self.advice else text


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        if self.ok:
            warnings = sum(c.status == WARN for c in self.checks)
            return "All checks passed" + (f" ({warnings} warning{'s' * (warnings > 1)})."
                                          if warnings else ".")
        names = ", ".join(c.name for c in self.failed)
        count = len(self.failed)
        return f"{count} check{'s' * (count > 1)} failed: {names}."

    def text(self, marks: dict[str, str] = MARKS) -> str:
        """For a terminal: the lines, the template indented under its line, a summary."""
        out: list[str] = []
        for check in self.checks:
            out.append(check.line(marks))
            out.extend(f"      {line}" for line in check.block.splitlines())
        out.append(self.summary())
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        """For the editor: a Markdown document (StarCoder: Doctor shows it)."""
        out = ["# StarCoder doctor", "", f"**{self.summary()}**", ""]
        for check in self.checks:
            out.append(f"- {check.mark} **{check.name}**: {_inline(check.detail)}")
            if check.advice:
                out.append(f"  - **Fix:** {_inline(check.advice)}")
            if check.block:
                fence = "````" if "```" in check.block else "```"
                out.extend(["", f"  {fence}text",
                            *(f"  {line}" for line in check.block.splitlines()),
                            f"  {fence}", ""])
        return "\n".join(out) + "\n"

    def as_dict(self) -> dict[str, Any]:
        """The `starcoder/doctor` answer."""
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "markdown": self.markdown(),
            "checks": [{**asdict(c), "mark": c.mark} for c in self.checks],
        }


def _inline(text: str) -> str:
    """One Markdown line: no line breaks; markup characters in paths and names shown as
    they are (escaped outside `code spans`, which show everything literally)."""
    parts = " ".join(text.split()).split("`")
    for i in range(0, len(parts), 2):  # the even parts are outside code spans
        for char in ("\\", "*", "_", "<", ">", "[", "]", "|"):
            parts[i] = parts[i].replace(char, "\\" + char)
    return "`".join(parts)

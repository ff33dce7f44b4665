"""The one error type a user can cause, and the exit codes the CLI promises."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1  # checks failed, or nothing was applied
EXIT_BAD_INPUT = 2
EXIT_ROLLED_BACK = 3  # apply failed and was rolled back
EXIT_INTERRUPTED = 4  # an interrupted run was found: rollback (or resume) first
EXIT_NOT_PLANNED = 5  # only the (simulated) install ran: the configuration was not planned


class UserError(Exception):
    """A problem the user can fix: printed as a message and a hint, never a traceback."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str = "", *, field: str = "", exit_code: int = 0):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field
        if exit_code:
            self.exit_code = exit_code

    def render(self) -> str:
        head = f"{self.field}: {self.message}" if self.field else self.message
        return f"error: {head}\n  fix: {self.hint}" if self.hint else f"error: {head}"


class ProblemList(UserError):
    """Several problems found at once (validation reports all of them, not the first)."""

    def __init__(self, problems: list[Problem], source: str = ""):
        self.problems = problems
        self.source = source
        super().__init__(f"{len(problems)} problem(s) in {source or 'the answers'}")

    def render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        lines = [f"error: {len(self.problems)} problem(s){where}:"]
        lines += [p.render() for p in self.problems]
        return "\n".join(lines)


class Problem:
    """One validation finding: the key path, the line when known, what is wrong and the fix."""

    __slots__ = ("field", "message", "hint", "line", "warning")

    def __init__(self, field: str, message: str, hint: str = "", line: int | None = None,
                 warning: bool = False):
        self.field = field
        self.message = message
        self.hint = hint
        self.line = line
        self.warning = warning

    def render(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        kind = "warning" if self.warning else "error"
        text = f"  - {kind}: {self.field}{where}: {self.message}"
        if self.hint:
            text += f"\n      fix: {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"Problem({self.field!r}, {self.message!r})"

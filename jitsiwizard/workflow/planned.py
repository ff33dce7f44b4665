"""A plan ready to show and apply, with what it was built from: what the session hands both
faces after planning, and what the checks around a run look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jitsiwizard.answers.load import LoadedAnswers
    from jitsiwizard.answers.model import Answers
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.errors import Problem
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.plan.steps import Plan


@dataclass
class Planned:
    """A plan ready to show and apply, with what it was built from."""

    loaded: LoadedAnswers
    facts: HostFacts
    plan: Plan
    redact: Redactor
    warnings: list[Problem] = field(default_factory=list)  # the answers' and the checks'

    @property
    def answers(self) -> Answers:
        return self.loaded.answers

"""The wizard's steps, in one table: their order, their label in the step line, the screen
that shows each, the roles whose wizard has it, and the answers keys fixed on it (a problem
with a key is shown on its step). Adding a step is a row here and its screen module.

A meeting server has the steps for its name, DNS, certificate and authentication; an extra
videobridge has its own Bridge step instead, for those belong to its main host."""

from __future__ import annotations

from dataclasses import dataclass

MEETING_SERVER, VIDEOBRIDGE = "meeting-server", "videobridge"
MEETING_ONLY, BRIDGE_ONLY, BOTH = (MEETING_SERVER,), (VIDEOBRIDGE,), (MEETING_SERVER, VIDEOBRIDGE)


@dataclass(frozen=True)
class WizardStep:
    name: str
    label: str
    screen: str  # "module:Class" under jitsiwizard.screens, imported when first shown
    roles: tuple[str, ...]  # the roles whose wizard shows it
    # The answers keys fixed on this step: a key itself, or a prefix its keys start with.
    fields: tuple[str, ...] = ()


STEPS = (
    WizardStep("welcome", "Welcome", "welcome:WelcomeScreen", BOTH, ("role",)),
    WizardStep("hostname", "Hostname", "hostname:HostnameScreen", MEETING_ONLY,
               ("host.hostname",)),
    # A videobridge takes its NAT addresses here: it has no DNS step.
    WizardStep("bridge", "Bridge", "bridge:BridgeScreen", BRIDGE_ONLY,
               ("host.public_address", "host.local_address", "bridge")),
    WizardStep("dns", "DNS", "dns:DnsScreen", MEETING_ONLY,
               ("host.public_address", "host.local_address")),
    WizardStep("firewall", "Firewall", "firewall:FirewallScreen", BOTH, ("firewall.",)),
    WizardStep("certificate", "Certificate", "certificate:CertificateScreen", MEETING_ONLY,
               ("host.email", "cert.")),
    WizardStep("auth", "Auth", "auth:AuthScreen", MEETING_ONLY, ("auth.",)),
    WizardStep("review", "Review", "review:ReviewScreen", BOTH),
    WizardStep("apply", "Apply", "apply:ApplyScreen", BOTH),
    WizardStep("done", "Done", "done:DoneScreen", BOTH),
)
FIRST = STEPS[0].name
BY_NAME = {step.name: step for step in STEPS}
LABELS = {step.name: step.label for step in STEPS}  # every step of either role


def steps_of(role: str) -> tuple[WizardStep, ...]:
    """The steps the role's wizard shows, in order."""
    return tuple(step for step in STEPS if role in step.roles)


def step_of(key: str, role: str = MEETING_SERVER) -> str:
    """The step where an answers key is fixed: the role's own steps first, then the others;
    Review for a key no step has."""
    ordered = steps_of(role) + tuple(step for step in STEPS if role not in step.roles)
    for step in ordered:
        if any(key == field or key.startswith(field) for field in step.fields):
            return step.name
    return "review"


def problems_on(step: str, form) -> list:
    """The form's validation errors (not warnings) that `step` can fix."""
    role = form.answers.role
    return [p for p in form.problems() if step_of(p.field, role) == step]

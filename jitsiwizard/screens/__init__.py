"""The wizard's screens, one module per step. Each edits one part of the answers and shows
what the core and the checks say; none holds business logic. `jitsiwizard.screens.app` imports a
screen's module the first time the screen is shown."""

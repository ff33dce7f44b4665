"""The session both faces drive: the form the screens edit, the live checks, the run's guards
around apply, and the bridges' add/list/remove."""

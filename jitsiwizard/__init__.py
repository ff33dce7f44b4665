"""jitsi-wizard: stand up and reconfigure a self-hosted Jitsi Meet safely."""

__version__ = "0.1.0"

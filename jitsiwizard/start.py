"""The command's entry point: holds the garbage collector off before anything is imported
(see collector.py), then runs the command line."""

from __future__ import annotations

from jitsiwizard import collector


def main() -> int:
    collector.hold()
    try:
        from jitsiwizard.cli.main import main as cli_main

        return cli_main()
    finally:
        collector.release()

"""The command line: argument parsing and each subcommand's output and exit code."""

"""What is on the host now: the facts read from its files, the answers they imply (prefill),
and how Prosody's authentication is spelled there. Pure: reads files, never runs anything
(the read in a child process at start-up is jitsiwizard.workflow.host_reader)."""

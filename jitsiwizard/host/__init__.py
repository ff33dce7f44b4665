"""What is on the host now: the facts read from its files, the reader that caches them, the
answers they imply (prefill), and how Prosody's authentication is spelled there."""

"""The HTTP API against the real server, with both providers faked."""

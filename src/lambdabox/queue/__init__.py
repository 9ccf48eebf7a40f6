"""The durable queue behind asynchronous invocation, and what became of each event."""

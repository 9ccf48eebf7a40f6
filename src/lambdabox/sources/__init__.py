"""Event source mapping pollers: poll a source, filter, batch, invoke through the Invoker, report."""

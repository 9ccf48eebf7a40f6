"""Invocation: resolve a qualifier, check out an execution environment, run, report."""

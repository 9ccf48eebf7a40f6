"""What runs inside a sandbox: runtime bootstraps, and the Runtime API they talk to."""

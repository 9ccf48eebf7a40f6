"""The `lambdabox` command."""

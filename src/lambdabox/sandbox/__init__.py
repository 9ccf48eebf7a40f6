"""One isolated process tree: namespaces, mounts, cgroups v1/v2, freezer."""

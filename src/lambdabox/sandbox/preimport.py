"""A zygote's imports of a runtime's libraries (boto3), made as if from where sandboxes see them.

A Python function that imports boto3 spends about 250 ms of its cold start in that import. A
zygote can pay it once for all its sandboxes, but it runs on the host, where the runtime's
libraries are under the server's virtual environment, while its sandboxes see them at
/var/lang/lib/python3.X/site-packages. So the zygote imports them from the host directory and
then moves every trace of that directory to the sandbox's: each module's file, path, spec and
loader, the path strings its module and classes hold (botocore's data directory, say), and the
code objects of every function defined there, so that tracebacks and lazy imports in a sandbox find what they name.

Whether the function may use these modules is decided in the sandbox: a function or layer with
its own copy of any of them (which Lambda's search path puts first) gets none of them
(the runtime bootstrap's `forget_preimported`).

This module runs in zygotes, on each runtime's interpreter (Python 3.9 and later): standard
library only.
"""

from __future__ import annotations

import gc
import importlib
import sys
import types
from typing import Any, Dict, List, Tuple

#: What a zygote imports from a runtime's libraries: the SDK a Python runtime includes.
MODULES = ("boto3",)


def preimport(host_dir: str, sandbox_dir: str, names: Tuple[str, ...] = MODULES) -> List[str]:
    """Import `names` from `host_dir`, relocated to `sandbox_dir`; the names of the modules that now come from there.

    On any failure, nothing imported from `host_dir` stays and [] is returned: sandboxes then
    import the libraries themselves, as without a zygote.
    """
    before = set(sys.modules)
    sys.path.insert(0, host_dir)
    try:
        for name in names:
            importlib.import_module(name)
    except Exception:
        _drop([name for name in sys.modules if name not in before])
        return []
    finally:
        sys.path.remove(host_dir)
        for entry in [entry for entry in sys.path_importer_cache if entry.startswith(host_dir)]:
            del sys.path_importer_cache[entry]
    prefix = host_dir.rstrip("/") + "/"
    moved = Relocation(prefix, sandbox_dir.rstrip("/") + "/")
    ours = []
    for name in [name for name in sys.modules if name not in before]:
        module = sys.modules[name]
        if isinstance(getattr(module, "__file__", None), str) and module.__file__.startswith(prefix):
            moved.module(module)
            ours.append(name)
    moved.functions()
    return sorted(ours)


def _drop(names: List[str]) -> None:
    for name in names:
        sys.modules.pop(name, None)


class Relocation:
    """Rewrites paths beginning with `old` to begin with `new`, in modules and what they define."""

    def __init__(self, old: str, new: str) -> None:
        self.old = old
        self.new = new
        self._codes: Dict[types.CodeType, types.CodeType] = {}
        self._seen: set = set()

    def path(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(self.old):
            return self.new + value[len(self.old):]
        return value

    def module(self, module: types.ModuleType) -> None:
        for attribute in ("__file__", "__cached__"):
            if isinstance(getattr(module, attribute, None), str):
                setattr(module, attribute, self.path(getattr(module, attribute)))
        if isinstance(getattr(module, "__path__", None), list):
            module.__path__[:] = [self.path(entry) for entry in module.__path__]
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.origin = self.path(spec.origin)
            if spec.has_location and spec.cached:
                spec.cached = self.path(spec.cached)
            if isinstance(spec.submodule_search_locations, list):
                spec.submodule_search_locations[:] = [self.path(e) for e in spec.submodule_search_locations]
        loader = getattr(module, "__loader__", None)
        if isinstance(getattr(loader, "path", None), str):
            loader.path = self.path(loader.path)
        self._namespace(vars(module), module.__name__)

    def _namespace(self, namespace: Dict[str, Any], owner: str) -> None:
        """Path strings (alone or in a list or tuple) among `namespace`'s values, and in the classes of `owner`."""
        for key, value in list(namespace.items()):
            if isinstance(value, str):
                moved = self.path(value)
                if moved is not value:
                    namespace[key] = moved
            elif type(value) in (list, tuple) and any(isinstance(item, str) for item in value):
                items = [self.path(item) for item in value]
                if any(a is not b for a, b in zip(items, value)):
                    if type(value) is list:
                        value[:] = items
                    else:
                        namespace[key] = tuple(items)
            elif isinstance(value, type) and getattr(value, "__module__", None) == owner and id(value) not in self._seen:
                self._seen.add(id(value))
                for attribute, held in list(vars(value).items()):
                    moved = self.path(held)
                    if isinstance(held, str) and moved is not held:
                        try:
                            setattr(value, attribute, moved)
                        except (AttributeError, TypeError):
                            pass

    def functions(self) -> None:
        """Move the code of every function whose code came from under `old`, wherever it is held."""
        for found in gc.get_objects():
            if isinstance(found, types.FunctionType) and found.__code__.co_filename.startswith(self.old):
                found.__code__ = self.code(found.__code__)

    def code(self, code: types.CodeType) -> types.CodeType:
        """`code` with its file name, and those of the code objects inside it, moved."""
        if code in self._codes:
            return self._codes[code]
        consts = tuple(self.code(const) if isinstance(const, types.CodeType) else const for const in code.co_consts)
        moved = code.replace(co_filename=self.path(code.co_filename), co_consts=consts)
        self._codes[code] = moved
        return moved

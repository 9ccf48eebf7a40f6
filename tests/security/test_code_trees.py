"""Tenant code trees are hostile data: zips, layers and the trees they unpack to.

Two guards, each tested on its own:
- at upload (and when a function's layers are chosen), symlinks are judged by where they
  really lead through the package's other links, and entries that would be unpacked
  through a link are refused: these tests drive a real server with boto3;
- whatever reaches the store, unpacking and merging never follow a link: these tests
  build attacker trees directly on disk, bypassing the upload check, and prove that a
  canary directory standing for the host stays untouched.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from support import aws_error, make_zip

from lambdabox.model.package_tree import Conflict, Kind, Tree
from lambdabox.store import beneath
from lambdabox.store.blobs import BlobStore
from lambdabox.store.unpacked import UnpackedStore

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
HANDLER = "def handler(event, context):\n    return 'ok'\n"


# -- building hostile archives ----------------------------------------------------------


def link(name: str, target: str) -> tuple[zipfile.ZipInfo, str]:
    """A symlink entry, as Info-ZIP stores one with -y."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def with_mode(name: str, mode: int, content: str = "data") -> tuple[zipfile.ZipInfo, str]:
    """An entry whose Unix mode (type and permission bits) is `mode`."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info, content


def archive(*entries: tuple[str | zipfile.ZipInfo, str | bytes], handler: bool = True) -> bytes:
    """A zip of `entries` in order (duplicates kept), after an app.py handler if `handler`."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some tests want
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
            if handler:
                out.writestr("app.py", HANDLER)
            for name, content in entries:
                out.writestr(name, content)
    return buffer.getvalue()


def many_entries(count: int) -> bytes:
    """A zip of `count` empty stored files, written by hand so that 100,000 take a second."""
    local, central = bytearray(), bytearray()
    for number in range(count):
        name = f"f{number}".encode()
        offset = len(local)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0) + name
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0, 0, 0, 0, 0, offset
        )
        central += name
    entries = min(count, 0xFFFF)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(local), 0)
    return bytes(local + central + end)


def refused(call, **arguments) -> str:
    """Make a call that must be refused as bad input; return AWS's message."""
    status, code, message = aws_error(call, **arguments)
    assert (status, code) == (400, "InvalidParameterValueException"), message
    return message


def create_refused(lam, role, unique, code: bytes, **config) -> str:
    """CreateFunction must refuse `code`, and leave no function behind."""
    name = unique("bad")
    message = refused(
        lam.create_function, FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": code}, **config,
    )
    status, kind, _ = aws_error(lam.get_function, FunctionName=name)
    assert (status, kind) == (404, "ResourceNotFoundException")
    return message


@pytest.fixture
def publish(lam, unique):
    def publish_version(data: bytes) -> str:
        return lam.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": data})["LayerVersionArn"]

    return publish_version


def unpacked_tree(server, code: bytes) -> Path:
    """Where the server unpacks `code`: its store keys trees by the zip's SHA-256."""
    return Path(server.data_dir) / "unpacked" / hashlib.sha256(code).hexdigest()


@pytest.fixture
def deploy_code(lam, role, unique):
    """Create a function from a ready-made zip and wait until it is Active; returns its name."""

    def create(code: bytes, handler: str = "app.handler", **config) -> str:
        name = unique("fn")
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler=handler, Code={"ZipFile": code}, **config
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        return name

    return create


# -- links that leave the package are refused at upload -------------------------------


@pytest.mark.parametrize(
    "entries, culprit",
    [
        pytest.param([link("etc", "/etc")], "etc", id="absolute"),
        pytest.param([link("lib/up", "../..")], "lib/up", id="dotdot"),
        pytest.param([link("a/up", ".."), link("e1", "a/up/..")], "e1", id="through-a-link"),
        pytest.param([link("a/up", ".."), link("e1", "a/up/a/up/a/up"), link("e2", "e1/..")], "e2", id="chain"),
        pytest.param([link("deep/er/d", "../.."), link("x", "deep/er/d/..")], "x", id="through-a-directory-link"),
        pytest.param(
            [link("x", "later/up/.."), link("later", "a"), link("a/up", "..")], "x", id="link-before-the-links-it-uses"
        ),
        pytest.param(
            [link("c0", ".")] + [link(f"c{i}", f"c{i - 1}") for i in range(1, 31)] + [link("out", "c30/..")],
            "out",
            id="deep-chain",
        ),
    ],
)
def test_links_that_really_leave_the_package_are_refused(lam, role, unique, publish, entries, culprit):
    code = archive(*entries)
    message = create_refused(lam, role, unique, code)
    assert message == f"{UNZIP_FAILED} The symlink '{culprit}' points outside the package."
    assert refused(lam.publish_layer_version, LayerName=unique("layer"), Content={"ZipFile": code}) == message


def test_chains_deeper_than_the_kernel_follows_and_loops_are_refused(lam, role, unique):
    deep = [link("c0", ".")] + [link(f"c{i}", f"c{i - 1}") for i in range(1, 45)]
    assert "too many levels of symbolic links" in create_refused(lam, role, unique, archive(*deep))
    loop = [link("a", "b"), link("b", "a")]
    assert "too many levels of symbolic links" in create_refused(lam, role, unique, archive(*loop))


@pytest.mark.parametrize(
    "entries, message",
    [
        pytest.param(
            [link("d", "sub"), ("d/x.py", "x")], "The entry 'd/x.py' is inside the symlink 'd'.", id="file-under-a-link"
        ),
        pytest.param(
            [link("lnk", "/etc"), ("lnk/cron.d/evil", "x")],
            "The entry 'lnk/cron.d/evil' is inside the symlink 'lnk'.",
            id="file-under-an-absolute-link",
        ),
        pytest.param(
            [link("d", "sub"), ("d/", "")],
            "The entry 'd/' clashes with an earlier entry of the same path.",
            id="directory-over-a-link",
        ),
        pytest.param(
            [("f", "x"), ("f/g", "y")], "The entry 'f/g' is inside the file 'f'.", id="file-under-a-file"
        ),
        pytest.param(
            [link("x", "app.py"), ("x", "print(1)")],
            "The entry 'x' clashes with an earlier entry of the same path.",
            id="file-named-like-a-previous-link",
        ),
        pytest.param(
            [("x", "print(1)"), link("x", "app.py")],
            "The entry 'x' clashes with an earlier entry of the same path.",
            id="link-named-like-a-previous-file",
        ),
        pytest.param(
            [link("x", "app.py"), link("x", "other.py")],
            "The entry 'x' clashes with an earlier entry of the same path.",
            id="link-twice",
        ),
        pytest.param([link("x", "")], "The symlink 'x' has an invalid target.", id="empty-target"),
        pytest.param([link("x", "a" * 4096)], "The symlink 'x' has an invalid target.", id="over-long-target"),
        pytest.param([link("x", "a\x00b")], "The symlink 'x' has an invalid target.", id="nul-in-target"),
    ],
)
def test_entries_that_would_be_written_through_a_link_or_clash_are_refused(lam, role, unique, entries, message):
    assert create_refused(lam, role, unique, archive(*entries)) == f"{UNZIP_FAILED} {message}"


def test_names_linux_cannot_hold_are_refused(lam, role, unique):
    deep = "/".join(["d"] * 129) + "/x.py"
    assert "nested deeper than 128 levels" in create_refused(lam, role, unique, archive((deep, "x")))
    long_name = "n" * 256 + ".py"
    assert "name too long" in create_refused(lam, role, unique, archive((long_name, "x")))


def test_more_entries_than_the_limit_are_refused_before_unpacking(lam, role, unique):
    message = create_refused(lam, role, unique, many_entries(100_001))
    assert message == f"{UNZIP_FAILED} The package has 100001 entries; Lambdabox unpacks at most 100000."


def test_many_entries_under_the_limit_unpack(server, deploy_code, invoke):
    code = archive(*[(f"data/{n // 100}/{n}.txt", str(n)) for n in range(3000)])
    function = deploy_code(code)
    assert invoke(function).body == "ok"
    tree = unpacked_tree(server, code)
    assert len(list((tree / "data").rglob("*.txt"))) == 3000


# -- links that stay inside keep working -----------------------------------------------


def test_a_directory_link_inside_the_package_imports(deploy_code, invoke):
    code = archive(
        ("vendor/lib/__init__.py", ""),
        ("vendor/lib/helper.py", "VALUE = 'through the link'\n"),
        link("lib", "vendor/lib"),
        link("vendor/current", "lib"),
        link("shortcut.py", "vendor/lib/helper.py"),
        ("main.py", "import lib.helper, shortcut\n"
         "def handler(event, context):\n    return [lib.helper.VALUE, shortcut.VALUE]\n"),
        handler=False,
    )
    function = deploy_code(code, handler="main.handler")
    assert invoke(function).body == ["through the link", "through the link"]


def test_a_later_layer_may_link_into_an_earlier_one(lam, publish, deploy_code, invoke):
    first = publish(archive(("python/realmod/__init__.py", "VALUE = 'from the first layer'\n"), handler=False))
    second = publish(
        archive(link("python/alias", "realmod"), link("python/up", "../python/realmod"), handler=False)
    )
    code = archive(
        ("main.py", "import alias, up\ndef handler(event, context):\n    return [alias.VALUE, up.VALUE]\n"),
        handler=False,
    )
    function = deploy_code(code, handler="main.handler", Layers=[first, second])
    assert invoke(function).body == ["from the first layer", "from the first layer"]


# -- layers: links that stay inside each layer but leave /opt together -----------------


def test_the_chain_attack_as_two_layers_is_refused_at_create(lam, role, unique, publish):
    # Each layer alone stays inside itself: `a/up` is the layer's root, and in the second
    # layer alone `a/up` is a plain directory. Merged in order, `x` climbs out of /opt.
    first = publish(archive(link("a/up", ".."), handler=False))
    second = publish(archive(link("x", "a/up/.."), handler=False))
    message = create_refused(lam, role, unique, make_zip(), Layers=[first, second])
    assert message == (
        f"The symlink 'x' of layer version {second} points outside /opt once the function's layers are merged in order."
    )
    assert create_refused(lam, role, unique, make_zip(), Layers=[second, first]) == message


@pytest.mark.needs_root
def test_a_third_layer_cannot_write_through_the_chain(server, publish, deploy_code, invoke):
    # The third layer's directory `x` replaces the escaping link in /opt: the combination is
    # accepted, and the merge puts the files in /opt/x, never where the link led (the
    # server's store of unpacked trees, one level above the merged tree).
    first = publish(archive(link("a/up", ".."), handler=False))
    second = publish(archive(link("x", "a/up/.."), handler=False))
    third = publish(archive(("x/etc/cron.d/evil", "* * * * * root id\n"), handler=False))
    code = archive(
        ("main.py", "def handler(event, context):\n    return open('/opt/x/etc/cron.d/evil').read()\n"), handler=False
    )
    function = deploy_code(code, handler="main.handler", Layers=[first, second, third])
    assert invoke(function).body == "* * * * * root id\n"
    unpacked = Path(server.data_dir) / "unpacked"
    assert not (unpacked / "etc").exists()
    [merged] = [tree for tree in unpacked.iterdir() if tree.name.startswith("layers-") and (tree / "x").exists()]
    assert not (merged / "x").is_symlink()


def test_a_later_layer_replacing_the_link_makes_the_chain_harmless(publish, deploy_code, invoke):
    # A later layer's directory at `a/up` replaces the link, so `x` ends inside /opt.
    first = publish(archive(link("a/up", ".."), handler=False))
    second = publish(archive(link("x", "a/up/.."), handler=False))
    third = publish(archive(("a/up/file.txt", "x"), handler=False))
    assert invoke(deploy_code(make_zip(), Layers=[first, second, third])).body == {"hello": {}}


def test_update_configuration_with_escaping_layers_changes_nothing(lam, publish, deploy_code):
    first = publish(archive(link("a/up", ".."), handler=False))
    second = publish(archive(link("x", "a/up/.."), handler=False))
    function = deploy_code(make_zip(), Layers=[first])
    before = lam.get_function_configuration(FunctionName=function)
    message = refused(lam.update_function_configuration, FunctionName=function, Layers=[first, second])
    assert message.startswith(f"The symlink 'x' of layer version {second} points outside /opt")
    after = lam.get_function_configuration(FunctionName=function)
    assert (after["RevisionId"], after["Layers"]) == (before["RevisionId"], before["Layers"])


# -- what unpacking makes of modes and duplicates --------------------------------------


def test_modes_are_only_0644_and_0755_and_every_entry_is_a_plain_file(server, deploy_code, invoke):
    code = archive(
        with_mode("setuid", stat.S_IFREG | 0o4755),
        with_mode("setgid", stat.S_IFREG | 0o2755),
        with_mode("sticky", stat.S_IFREG | 0o1644),
        with_mode("writable", stat.S_IFREG | 0o666),
        with_mode("chardev", stat.S_IFCHR | 0o6777),
        with_mode("blockdev", stat.S_IFBLK | 0o644),
        with_mode("fifo", stat.S_IFIFO | 0o644),
        with_mode("socket", stat.S_IFSOCK | 0o755),
        with_mode("odd/", stat.S_IFDIR | 0o7777, ""),
        with_mode("odd/inside", stat.S_IFREG | 0o777),
        ("report.py", "import os, stat\n"
         "def handler(event, context):\n"
         "    return {name: os.lstat(os.path.join(os.environ['LAMBDA_TASK_ROOT'], name)).st_mode for name in event}\n"),
        handler=False,
    )
    function = deploy_code(code, handler="report.handler")
    tree = unpacked_tree(server, code)
    expected = {
        "setuid": 0o100755, "setgid": 0o100755, "sticky": 0o100644, "writable": 0o100644, "chardev": 0o100755,
        "blockdev": 0o100644, "fifo": 0o100644, "socket": 0o100755, "odd": 0o040755, "odd/inside": 0o100755,
    }
    on_host = {name: os.lstat(tree / name).st_mode for name in expected}
    assert {name: oct(mode) for name, mode in on_host.items()} == {name: oct(mode) for name, mode in expected.items()}
    inside = invoke(function, list(expected)).body
    assert {name: oct(mode) for name, mode in inside.items()} == {name: oct(mode) for name, mode in expected.items()}


def test_a_file_named_twice_is_the_last_one(deploy_code, invoke):
    code = archive(
        ("main.py", "def handler(event, context):\n    return 'first'\n"),
        ("main.py", "def handler(event, context):\n    return 'last'\n"),
        ("lib/", ""),
        ("lib/", ""),
        handler=False,
    )
    assert invoke(deploy_code(code, handler="main.handler")).body == "last"


# -- the store never follows a link, whatever reaches it -------------------------------


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A canary directory standing for the host: nothing may appear in it or change."""
    canary = tmp_path / "host"
    (canary / "etc").mkdir(parents=True)
    (canary / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    return canary


def snapshot(directory: Path) -> dict[str, tuple[int, bytes | str]]:
    found = {}
    for path in sorted(directory.rglob("*")):
        info = os.lstat(path)
        content = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        found[str(path.relative_to(directory))] = (info.st_mode, content)
    return found


@pytest.fixture
def store(tmp_path: Path) -> UnpackedStore:
    return UnpackedStore(BlobStore(tmp_path / "archives"), tmp_path / "unpacked")


def planted(store: UnpackedStore, name: str) -> Path:
    """A directory the store takes for an unpacked archive `name`, filled by the test by hand."""
    tree = store.path(name)
    tree.mkdir()
    return tree


def test_merging_through_the_chain_attack_writes_nothing_outside(store, host):
    before = snapshot(host)
    # The store's trees sit in tmp_path/unpacked/<name>; the merge happens in
    # tmp_path/unpacked/.unpacking-*/, two levels below tmp_path, where `host` is.
    first = planted(store, "first")
    (first / "a").mkdir()
    os.symlink("..", first / "a" / "up")  # the merged tree's root
    os.symlink("a/up/..", first / "e1")  # tmp_path/unpacked
    os.symlink("e1/..", first / "e2")  # tmp_path
    os.symlink("e2/host", first / "evil")  # the canary
    os.symlink("e2/host/etc/passwd", first / "passwd")
    assert os.path.realpath(first / "evil") == str(host)
    second = planted(store, "second")
    (second / "evil" / "etc" / "cron.d").mkdir(parents=True)
    (second / "evil" / "etc" / "cron.d" / "pwn").write_text("* * * * * root id\n")
    (second / "evil" / "etc" / "passwd").write_text("pwned\n")
    (second / "passwd").write_text("pwned\n")

    merged = store.layered(["first", "second"])

    assert snapshot(host) == before
    assert os.path.realpath(merged / "e2" / "host") == str(host)  # the chain is there, and leads to the canary
    assert not (merged / "evil").is_symlink() and (merged / "evil").is_dir()
    assert (merged / "evil" / "etc" / "cron.d" / "pwn").read_text() == "* * * * * root id\n"
    assert not (merged / "passwd").is_symlink() and (merged / "passwd").read_text() == "pwned\n"


def test_a_later_link_replaces_an_earlier_directory_without_touching_its_target(store, host):
    before = snapshot(host)
    first = planted(store, "first")
    (first / "d").mkdir()
    (first / "d" / "kept.txt").write_text("x")
    second = planted(store, "second")
    os.symlink(str(host), second / "d")
    os.symlink(str(host / "etc"), second / "etc")
    third = planted(store, "third")
    (third / "etc").mkdir()
    (third / "etc" / "passwd").write_text("pwned\n")

    merged = store.layered(["first", "second", "third"])

    assert snapshot(host) == before
    assert os.readlink(merged / "d") == str(host)
    assert not (merged / "etc").is_symlink() and (merged / "etc" / "passwd").read_text() == "pwned\n"


def unchecked_zip(*entries: tuple[str | zipfile.ZipInfo, str]) -> bytes:
    return archive(*entries, handler=False)


def test_unpacking_never_writes_through_its_own_links(store, host):
    before = snapshot(host)
    # The tree is unpacked in tmp_path/unpacked/.unpacking-*/, two levels below tmp_path/host.
    attacks = [
        unchecked_zip(link("d", "../../host"), ("d/etc/passwd", "pwned")),
        unchecked_zip(("d/etc/passwd", "pwned"), link("d", "../../host")),
        unchecked_zip(link("d", str(host)), ("d/", ""), ("d/x", "pwned")),
        unchecked_zip(link("passwd", str(host / "etc" / "passwd")), ("passwd", "pwned")),
        unchecked_zip(("../../host/etc/passwd", "pwned")),
        unchecked_zip(("a/../../../host/etc/passwd", "pwned")),
    ]
    for data in attacks:
        key = store._blobs.put(data)  # straight into the store: no upload check
        try:
            tree = store.tree(key)
        except (OSError, ValueError):
            assert not store.path(key).exists()
        else:
            assert not os.path.realpath(tree).startswith(str(host))
    assert snapshot(host) == before
    assert not [entry for entry in store.path("").iterdir() if entry.name.startswith(".unpacking-")]


def test_an_absolute_entry_lands_inside_the_tree(store, host):
    before = snapshot(host)
    key = store._blobs.put(unchecked_zip((f"{host}/etc/passwd", "pwned")))
    tree = store.tree(key)
    assert (tree / str(host).lstrip("/") / "etc" / "passwd").read_text() == "pwned"
    assert snapshot(host) == before


def test_sweeping_a_tree_removes_its_links_not_their_targets(store, host):
    before = snapshot(host)
    tree = planted(store, "old")
    os.symlink(str(host), tree / "host")
    os.symlink(str(host / "etc"), tree / "etc")
    store.sweep(referenced=set())
    assert not tree.exists()
    assert snapshot(host) == before


@pytest.mark.parametrize("openat2", [True, False], ids=["openat2", "walk"])
def test_opening_beneath_refuses_every_link_on_the_way(tmp_path, host, openat2):
    root = tmp_path / "root"
    (root / "real" / "inside").mkdir(parents=True)
    os.symlink(str(host), root / "absolute")
    os.symlink("../host", root / "relative")
    os.symlink("real", root / "inward")  # even a link that stays inside is not followed
    (root / "file").write_text("x")
    before = snapshot(host)
    with beneath.open_directory(root) as fd:
        with beneath.directory(fd, ("real", "inside"), openat2=openat2) as inner:
            assert os.listdir(inner) == []
        for parts in [("absolute",), ("relative", "etc"), ("inward", "inside"), ("file",), ("file", "x")]:
            with pytest.raises(beneath.NotBeneath):
                with beneath.directory(fd, parts, create=True, openat2=openat2):
                    pass
        with pytest.raises(FileNotFoundError):
            with beneath.directory(fd, ("missing",), openat2=openat2):
                pass
        for bad in [("..",), (".",), ("a/b",), ("",)]:
            with pytest.raises(ValueError):
                with beneath.directory(fd, bad, create=True, openat2=openat2):
                    pass
        with beneath.directory(fd, ("new", "deeper"), create=True, openat2=openat2) as made:
            beneath.write_file(made, "file", io.BytesIO(b"data"), executable=False)
    assert (root / "new" / "deeper" / "file").read_bytes() == b"data"
    assert stat.S_IMODE(os.lstat(root / "new" / "deeper").st_mode) == 0o755
    assert snapshot(host) == before


def test_writing_a_file_replaces_a_link_instead_of_following_it(tmp_path, host):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(str(host / "etc" / "passwd"), root / "passwd")
    before = snapshot(host)
    with beneath.open_directory(root) as fd:
        beneath.write_file(fd, "passwd", io.BytesIO(b"mine"), executable=True)
    assert not (root / "passwd").is_symlink()
    assert (root / "passwd").read_bytes() == b"mine"
    assert stat.S_IMODE(os.lstat(root / "passwd").st_mode) == 0o755
    assert snapshot(host) == before


# -- the model and the kernel agree ----------------------------------------------------

_PARTS = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3).map("/".join)
_TARGETS = st.lists(st.sampled_from(["a", "b", "..", "..", "."]), min_size=1, max_size=4).map("/".join)
_LINK = st.tuples(_PARTS, st.just(Kind.SYMLINK), _TARGETS)
#: Mostly links, since links are what can go wrong.
_ENTRIES = st.lists(
    st.one_of(
        _LINK,
        _LINK,
        _LINK,
        st.tuples(_PARTS, st.just(Kind.FILE), st.none()),
        st.tuples(_PARTS, st.just(Kind.DIRECTORY), st.none()),
    ),
    max_size=8,
)
#: The chain attack: each layer harmless alone, the second climbing out through the first.
_CHAIN = [[("a/b", Kind.SYMLINK, "..")], [("b", Kind.SYMLINK, "a/b/..")]]


def coherent(entries: list[tuple[str, Kind, str | None]]) -> list[tuple[str, Kind, str | None]]:
    """The entries the upload check would let through together, in order."""
    kept: list[tuple[str, Kind, str | None]] = []
    for entry in entries:
        try:
            Tree.of(kept + [entry])
        except Conflict:
            continue
        kept.append(entry)
    return kept


def as_zip(entries: list[tuple[str, Kind, str | None]]) -> bytes:
    members: list[tuple[str | zipfile.ZipInfo, str]] = []
    for name, kind, target in entries:
        if kind is Kind.SYMLINK:
            members.append(link(name, target or ""))
        else:
            members.append((name + "/" if kind is Kind.DIRECTORY else name, "x"))
    return archive(*members, handler=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ENTRIES, min_size=1, max_size=3))
@example(_CHAIN)
@example([_CHAIN[0] + _CHAIN[1]])
def test_links_the_model_lets_through_stay_inside_on_a_real_disk(layers):
    """Whatever trees of links the layers hold, unpacked and merged by the real store: when
    the model finds no link leaving the merged tree, the kernel's resolution (realpath)
    leaves it for none either, and the model's merge has the same links as the disk's."""
    layers = [coherent(entries) for entries in layers]
    with tempfile.TemporaryDirectory() as scratch:
        store = UnpackedStore(BlobStore(Path(scratch) / "archives"), Path(scratch) / "unpacked")
        keys = [store._blobs.put(as_zip(entries)) for entries in layers]
        merged = store.layered(keys)
        on_disk = {
            str((Path(directory) / name).relative_to(merged)): os.readlink(Path(directory) / name)
            for directory, folders, files in os.walk(merged)
            for name in folders + files
            if (Path(directory) / name).is_symlink()
        }
        model = Tree.merged(Tree.of(entries, origin) for origin, entries in enumerate(layers))
        assert on_disk == {"/".join(path): found.target for path, found in model.links()}
        if model.bad_link() is None:
            for name in on_disk:
                real = os.path.realpath(merged / name)
                assert real == str(merged) or real.startswith(f"{merged}/"), (name, real)


_HOSTILE_PARTS = st.lists(st.sampled_from(["a", "b", "..", "host"]), min_size=1, max_size=4).map("/".join)
_HOSTILE_TARGETS = st.one_of(_TARGETS, st.sampled_from(["HOST", "HOST/etc", "../../host", "../../../host/etc"]))
_HOSTILE_ENTRIES = st.lists(
    st.one_of(
        st.tuples(_HOSTILE_PARTS, st.just(Kind.SYMLINK), _HOSTILE_TARGETS),
        st.tuples(_HOSTILE_PARTS, st.just(Kind.SYMLINK), _HOSTILE_TARGETS),
        st.tuples(_HOSTILE_PARTS, st.just(Kind.FILE), st.none()),
        st.tuples(_HOSTILE_PARTS, st.just(Kind.DIRECTORY), st.none()),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_HOSTILE_ENTRIES, min_size=1, max_size=3))
def test_no_archive_makes_the_store_write_outside_its_trees(layers):
    """Archives no upload check has seen (`..` names, absolute links, links to a canary, clashes):
    unpacked and merged by the real store, they either fail or make trees, and the canary
    and everything else outside the store stay as they were."""
    with tempfile.TemporaryDirectory() as scratch:
        host = Path(scratch) / "host"
        (host / "etc").mkdir(parents=True)
        (host / "etc" / "passwd").write_text("root\n")
        before = snapshot(Path(scratch))
        store = UnpackedStore(BlobStore(Path(scratch) / "s" / "archives"), Path(scratch) / "s" / "unpacked")
        entries_of = [
            [(name, kind, target.replace("HOST", str(host)) if target else target) for name, kind, target in layer]
            for layer in layers
        ]
        keys = [store._blobs.put(as_zip(entries)) for entries in entries_of]
        try:
            store.layered(keys)
        except (OSError, ValueError):
            pass
        after = {name: found for name, found in snapshot(Path(scratch)).items() if name != "s" and not name.startswith("s/")}
        assert after == before
        assert not [entry for entry in store.path("").iterdir() if entry.name.startswith(".unpacking-")]


def test_a_custom_runtimes_bootstrap_may_be_a_link_the_server_never_follows(lam, role, unique, invoke):
    """`bootstrap` is looked for by name (lexists), not through the link: the link resolves inside the sandbox."""
    script = (
        "#!/bin/sh\n"
        "while true; do\n"
        "  headers=$(mktemp)\n"
        "  curl -sS -D \"$headers\" -o /dev/null \"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next\"\n"
        "  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' \"$headers\" | tr -d '\\r' | cut -d' ' -f2)\n"
        "  curl -sS -X POST \"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/${id}/response\" "
        "-d '\"linked\"' >/dev/null\n"
        "done\n"
    )
    code = archive(with_mode("bin/run", stat.S_IFREG | 0o755, script), link("bootstrap", "bin/run"), handler=False)
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=role, Handler="x", Code={"ZipFile": code})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert invoke(name, {}).body == "linked"

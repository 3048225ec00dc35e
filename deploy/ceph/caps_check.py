"""Check the client keys ceph-local.sh makes: each can do what it is for and no more.

    python3 deploy/ceph/caps_check.py DIR      (Debian's python3, or a venv with the python-shim)

As client.admin it makes an image in `volumes` with two snapshots; then
* lifeboat-reader: opens the image at a snapshot, reads it, lists the changed extents between
  the snapshots (diff_iterate); writing, snapshotting, creating an image are refused;
* lifeboat-writer: creates, writes, snapshots and removes an image in `volumes`; `images` and
  `backups` are refused;
* cinder: creates an image in `volumes`, clones a protected snapshot of an `images` image into
  `volumes` (a volume from a Glance image), flattens and removes it; writing `images` is refused.
Prints one line per check; exit status 1 if any failed. Cleans up what it made.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import rados
import rbd

MiB = 1 << 20
failed: list[str] = []


def check(name: str, fn: Callable[[], object]) -> None:
    try:
        detail = fn()
    except Exception as err:
        failed.append(name)
        print(f"FAIL {name}: {type(err).__name__}: {err}")
    else:
        print(f"ok   {name}" + (f": {detail}" if detail else ""))


def refused(fn: Callable[[], object]) -> str:
    """The call must fail with a permission error."""
    try:
        fn()
    except (rbd.PermissionError, rados.PermissionError) as err:
        return f"refused ({type(err).__name__})"
    raise AssertionError("not refused")


def connect(cluster: dict, client: str) -> rados.Rados:
    conn = rados.Rados(
        conffile=cluster["conf"],
        rados_id=client,
        conf={"keyring": cluster["keyrings"][client]},
    )
    conn.connect(timeout=10)
    return conn


def main() -> None:
    cluster = json.loads((Path(sys.argv[1]) / "cluster.json").read_text())
    tag = uuid.uuid4().hex[:8]
    name, parent = f"capcheck-{tag}", f"capcheck-img-{tag}"
    admin = connect(cluster, "admin")
    vols, imgs = admin.open_ioctx("volumes"), admin.open_ioctx("images")
    rbd.RBD().create(vols, name, 64 * MiB)
    with rbd.Image(vols, name) as img:
        img.write(b"A" * MiB, 0)
        img.create_snap("s1")
        img.write(b"B" * MiB, 8 * MiB)
        img.create_snap("s2")
    rbd.RBD().create(imgs, parent, 8 * MiB, features=rbd.RBD_FEATURE_LAYERING)
    with rbd.Image(imgs, parent) as img:
        img.write(b"G" * MiB, 0)
        img.create_snap("snap")
        img.protect_snap("snap")
    try:
        reader(cluster, name)
        writer(cluster, tag)
        cinder(cluster, tag, parent)
    finally:
        rbd.RBD().remove(vols, name) if _unsnap(vols, name) else None
        with rbd.Image(imgs, parent) as img:
            img.unprotect_snap("snap")
        _unsnap(imgs, parent)
        rbd.RBD().remove(imgs, parent)
        admin.shutdown()
    print(f"caps_check: {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


def _unsnap(ioctx: rados.Ioctx, name: str) -> bool:
    with rbd.Image(ioctx, name) as img:
        for snap in list(img.list_snaps()):
            img.remove_snap(snap["name"])
    return True


def reader(cluster: dict, name: str) -> None:
    conn = connect(cluster, "lifeboat-reader")
    vols = conn.open_ioctx("volumes")
    try:

        def read_at_snap() -> str:
            with rbd.Image(vols, name, snapshot="s1", read_only=True) as img:
                assert img.read(0, 16) == b"A" * 16
                assert img.read(8 * MiB, 16) == b"\0" * 16
            return "s1 reads A at 0 and zeros at 8 MiB"

        def diff() -> str:
            extents: list[tuple[int, int, bool]] = []
            with rbd.Image(vols, name, snapshot="s2", read_only=True) as img:
                img.diff_iterate(0, img.size(), "s1", lambda o, n, e: extents.append((o, n, e)))
                assert img.read(8 * MiB, 16) == b"B" * 16
            assert extents and all(e for _, _, e in extents), extents
            assert any(o <= 8 * MiB < o + n for o, n, _ in extents), extents
            return f"s1..s2 changed extents {extents}"

        def write() -> None:
            with rbd.Image(vols, name) as img:
                img.write(b"X" * 4096, 0)

        def snap() -> None:
            with rbd.Image(vols, name) as img:
                img.create_snap("nope")

        check("lifeboat-reader: read at a snapshot", read_at_snap)
        check("lifeboat-reader: diff_iterate between snapshots", diff)
        check("lifeboat-reader: write refused", lambda: refused(write))
        check("lifeboat-reader: snapshot refused", lambda: refused(snap))
        check(
            "lifeboat-reader: create refused",
            lambda: refused(lambda: rbd.RBD().create(vols, "nope", MiB)),
        )
    finally:
        conn.shutdown()


def writer(cluster: dict, tag: str) -> None:
    conn = connect(cluster, "lifeboat-writer")
    vols = conn.open_ioctx("volumes")
    name = f"capcheck-replica-{tag}"
    try:

        def replica() -> str:
            rbd.RBD().create(vols, name, 16 * MiB)
            with rbd.Image(vols, name) as img:
                img.write(b"R" * MiB, 4 * MiB)
                img.create_snap("cp1")
                assert img.read(4 * MiB, 4) == b"RRRR"
                img.remove_snap("cp1")
            rbd.RBD().remove(vols, name)
            return "create, write, snapshot, remove in volumes"

        def other_pool(pool: str) -> Callable[[], str]:
            return lambda: refused(
                lambda: rbd.RBD().create(conn.open_ioctx(pool), f"nope-{tag}", MiB)
            )

        check("lifeboat-writer: replica image in volumes", replica)
        check("lifeboat-writer: images refused", other_pool("images"))
        check("lifeboat-writer: backups refused", other_pool("backups"))
    finally:
        conn.shutdown()


def cinder(cluster: dict, tag: str, parent: str) -> None:
    conn = connect(cluster, "cinder")
    vols, imgs = conn.open_ioctx("volumes"), conn.open_ioctx("images")
    name = f"capcheck-volume-{tag}"
    try:

        def clone() -> str:
            rbd.RBD().clone(imgs, parent, "snap", vols, name, features=rbd.RBD_FEATURE_LAYERING)
            with rbd.Image(vols, name) as img:
                assert img.read(0, 4) == b"GGGG"
                img.flatten()
            rbd.RBD().remove(vols, name)
            return "clone of an images snapshot into volumes, flatten, remove"

        def write_images() -> None:
            with rbd.Image(imgs, parent) as img:
                img.write(b"X" * 4096, 0)

        check("cinder: volume from a Glance image (clone)", clone)
        check("cinder: writing images refused", lambda: refused(write_images))
    finally:
        conn.shutdown()


if __name__ == "__main__":
    main()

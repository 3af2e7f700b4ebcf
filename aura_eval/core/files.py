"""Files: the one sha256 helper (files and bytes, with a cache for large files), aura-eval's cache folder,
the atomic file and folder writes, and verified cache entries (folders that record their files' sha256)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from aura_eval.core.names import CACHE_ENV

BLOCK = 1 << 20
FILES_KEY = "files"  # a cache entry's marker: {"files": {name: {"size", "mtime_ns", "sha256"}}, ...}

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """aura-eval's cache (fetched models, folded checkpoints): $AURA_EVAL_CACHE or ~/.cache/aura-eval."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "aura-eval"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_lines(named: dict[str, str]) -> str:
    """One digest of several named digests: sha256 of their "<sha256>  <name>" lines in name order."""
    return sha256_bytes("".join(f"{named[name]}  {name}\n" for name in sorted(named)).encode())


def cached_sha256(path: str | Path, cache: Path | None = None) -> str:
    """sha256 of a file, remembered by (absolute path, size, mtime) so a large model is hashed once.

    The cache is a JSON file of this machine (`cache`, default <aura-eval cache>/digests.json); a changed
    size or mtime hashes the file again.
    """
    path = Path(path).resolve()
    cache = cache or cache_dir() / "digests.json"
    stat = path.stat()
    key, stamp = str(path), [stat.st_size, stat.st_mtime_ns]
    known = _read_json(cache)
    entry = known.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = sha256_file(path)
    known = _read_json(cache)  # another process may have added entries meanwhile
    known[key] = {"stamp": stamp, "sha256": digest}
    try:
        atomic_write(cache, json.dumps(known, sort_keys=True).encode())
    except OSError:
        pass  # a read-only cache only costs hashing again
    return digest


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def atomic_write(path: str | Path, data: bytes | Callable[[Path], None], mode: int | None = None) -> Path:
    """Write `path` whole or not at all: into a hidden temporary file beside it, then `os.replace`.

    `data` is the bytes, or a function that writes the temporary file it is given (e.g. safetensors'
    `save_file`). `mode` sets the file's permissions before it appears.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- folders written whole ---------------------------------------------------------------------------
class FolderTaken(FileExistsError):
    """`atomic_folder`'s target appeared while this writer was writing (another process was faster)."""


def atomic_folder(target: str | Path, write: Callable[[Path], None], replace: bool = False) -> Path:
    """Run `write(tmp)` on a new hidden sibling folder of `target`, then rename it to `target`: a reader
    never sees a half-written folder, and an interrupted writer leaves only its hidden sibling.

    With `replace`, an existing `target` is moved aside, replaced, and deleted last (restored when the
    rename fails). Without it, a `target` that appeared meanwhile (another process was faster) raises
    FolderTaken and this writer's folder is discarded. A `target` that is a symlink to a folder: the
    folder it names is written, the link is kept.
    """
    target = Path(target).expanduser()
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    tmp.mkdir()
    try:
        write(tmp)
        if replace and target.exists():
            old = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.old")
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except OSError:
                os.rename(old, target)
                raise
            shutil.rmtree(old)
        else:
            try:
                os.rename(tmp, target)  # an empty folder is replaced; a full one refuses
            except OSError as e:
                if target.exists():
                    raise FolderTaken(f"{target} was written meanwhile by another process") from e
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def remove_dead_partials(target: Path) -> None:
    """Remove the hidden siblings (`atomic_folder`'s .tmp / .old, set-aside .bad) of writers that died."""
    for partial in Path(target).parent.glob(f".{Path(target).name}.*"):
        pid = partial.name.removeprefix(f".{Path(target).name}.").split("-", 1)[0]
        if partial.is_dir() and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- verified cache entries ---------------------------------------------------------------------------
def file_stamps(folder: Path, skip: str) -> dict[str, dict]:
    """{relative name: {size, mtime_ns, sha256}} of every file below `folder` except the marker `skip`."""
    stamps = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name != skip):
        stat = path.stat()
        stamps[path.relative_to(folder).as_posix()] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                                       "sha256": sha256_file(path)}
    return stamps


def write_marker(folder: Path, marker: str, content: dict) -> None:
    """Write the marker last, with the stamps of every file already in `folder`."""
    content = {**content, FILES_KEY: file_stamps(folder, marker)}
    atomic_write(Path(folder) / marker, (json.dumps(content, indent=1, sort_keys=True) + "\n").encode())


def entry_problem(folder: Path, marker: str) -> str | None:
    """None when the cache entry `folder` holds every file its marker lists, as written; else what is wrong.
    Cheap when nothing changed: a file whose size and mtime are those recorded is not read; a changed mtime
    reads it whole (through `cached_sha256`, so once per size and mtime)."""
    folder = Path(folder)
    if not (folder / marker).is_file():
        return f"no {marker}: an interrupted or foreign folder"
    content = _read_json(folder / marker)
    files = content.get(FILES_KEY)
    if not isinstance(files, dict) or not files:
        return f"its {marker} lists no file digests (unreadable, or written by an older aura-eval)"
    for name, want in sorted(files.items()):
        path = folder / name
        if not isinstance(want, dict) or not path.is_file():
            return f"{name} is missing"
        stat = path.stat()
        if stat.st_size != want.get("size"):
            return f"{name} has {stat.st_size} bytes, {want.get('size')} when written"
        if stat.st_mtime_ns != want.get("mtime_ns") and cached_sha256(path) != want.get("sha256"):
            return f"{name} changed since it was written (its sha256 differs)"
    return None


def cached_folder(target: Path, build: Callable[[Path], dict], marker: str, what: str) -> Path | None:
    """The verified cache entry `target`: built when absent by `build(folder)`, which writes the files into
    the folder it is given and returns the marker's other content. A damaged entry is named in a warning,
    built again once, and said so. Two processes may fill one entry at once: the slower one uses the
    faster one's. None, with a warning, when the cache cannot be written: the caller does without it.
    """
    target = Path(target)
    problem = entry_problem(target, marker) if target.exists() else None
    if target.exists() and problem is None:
        return target
    why = unwritable(target.parent)
    if why:
        log.warning("aura-eval cache %s cannot be written (%s): %s without the cache (set %s to a writable "
                    "folder to keep it)", target.parent, why, what, CACHE_ENV)
        return None
    if problem is not None:
        log.warning("%s: cache entry %s is damaged (%s): building it again", what, target, problem)
        _discard(target)
    remove_dead_partials(target)
    try:
        atomic_folder(target, lambda folder: write_marker(folder, marker, build(folder)))
    except FolderTaken:
        late = entry_problem(target, marker)
        if late is not None:
            raise OSError(f"{what}: cache entry {target}, written meanwhile by another process, is damaged "
                          f"({late}); delete it and run again") from None
        return target
    if problem is not None:
        log.warning("%s: cache entry %s built again, whole", what, target)
    return target


def unwritable(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (made when missing), or None. A probe, not `os.access`:
    root passes every permission check, but not a path below a regular file or a read-only mount."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return e.strerror or type(e).__name__
    return None


def _discard(target: Path) -> None:
    """Move a bad entry aside (one rename, so two processes cannot both act on it), then delete it."""
    aside = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.bad")
    try:
        os.rename(target, aside)
    except FileNotFoundError:
        return  # another process moved it first
    shutil.rmtree(aside, ignore_errors=True)

"""Files: the one sha256 helper (files and bytes, with a cache for large files) and the one atomic write."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

BLOCK = 1 << 20


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
    from aura_eval.core.loading import cache_dir

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

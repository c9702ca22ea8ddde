"""One base for the derived files kept beside the store: FAISS vectors, the keyword index, sentence vectors.

Each is a cache of the store, so a load either gives the saved object or a fresh empty one and
the reason it could not be used; the caller logs that reason once and rebuilds from the store.
A load never raises: a torn, truncated, bit-flipped or deleted file, or a library that chokes on
one (BadZipFile, EOFError, IndexError, anything), is a reason, not an outage. Saving writes the
data files first and the manifest last, and the manifest holds a checksum of every data file,
so a crash in between or any later damage is caught before a library reads the bytes.

Checksumming every file on every load made a cold `ask` at 100k passages read 560 MB first. So
a load that verified the files leaves a stamp beside the manifest (`<manifest>.verified`: each
file's size, modification time, inode and checksum), and the next load hashes only files whose
stat differs from it. Any write to a file (a torn save, a truncation, a flipped bit written
through the filesystem) changes its modification time or inode, so it is hashed and caught. A
file modified less than RACY_NS before the stamp is written is left out of it (its next change
could fall in the same clock tick); what this cannot see is damage that keeps a file's size,
inode and modification time, such as bit rot on the disk itself.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar, Self

log = logging.getLogger(__name__)

STORED_VERSION = 2  # 1: each part's own manifest without checksums of every file
STAMP_SUFFIX = ".verified"  # beside the manifest: files verified and their stat then (see above)
RACY_NS = 2_000_000_000  # a file changed this recently is not stamped: its next change may keep the same mtime


@dataclass
class StoredManifest:
    """What a part's JSON manifest says. Build parameters sit at the top level beside these
    (`"model": ...`, `"tokenizer": ...`), so the file reads as it always did."""

    format: str
    count: int
    ids_digest: str
    built_at: str
    files: dict[str, str]  # data file (relative to the part's directory) -> blake2b checksum
    params: dict = field(default_factory=dict)
    version: int = STORED_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        params = data.pop("params")
        return json.dumps({**params, **data}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "StoredManifest":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the manifest is not a JSON object")
        # An older manifest lacks format, files and version: it reads as version 1, i.e. "rebuild".
        own = {"format": data.pop("format", ""), "files": data.pop("files", {}), "version": data.pop("version", 1)}
        own.update({k: data.pop(k) for k in ("count", "ids_digest", "built_at")})
        manifest = cls(**own, params=data)
        if not isinstance(manifest.files, dict) or not isinstance(manifest.count, int):
            raise ValueError("the manifest's files or count are malformed")
        return manifest


def ids_digest(ids: Iterable[int]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for i in sorted(ids):
        h.update(int(i).to_bytes(8, "big", signed=True))
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temporary file in the same directory, fsync, rename: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class StoredPart:
    """A derived file set with a manifest. Subclasses say what they are and how to write and read
    their data; this class does the manifest, the checksums, the order of writes and the refusal
    to let any failure escape a load."""

    LABEL: ClassVar[str]  # "the index": how reasons and logs name it
    FORMAT: ClassVar[str]  # bump when the data files' layout changes
    MANIFEST: ClassVar[str]  # manifest file name in the part's directory

    directory: Path
    built_at: str | None = None

    # -- what a subclass provides ------------------------------------------------------

    def build_params(self) -> dict:
        """Settings the data depend on: a saved part built with others is rebuilt."""
        raise NotImplementedError

    def stored_ids(self) -> list[int]:
        raise NotImplementedError

    def data_paths(self) -> list[Path]:
        """The data files this part writes (to tell "never saved" from "damaged")."""
        raise NotImplementedError

    def write_data(self) -> list[Path]:
        """Write the data files (each atomically); return their paths."""
        raise NotImplementedError

    def read_data(self, manifest: StoredManifest) -> str | None:
        """Fill self from the (checksum-verified) data files; a reason if their contents disagree."""
        raise NotImplementedError

    # -- persistence -------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.directory / self.MANIFEST

    def save(self) -> StoredManifest:
        """Data files first, manifest last: a crash between leaves a checksum mismatch, i.e. a rebuild."""
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = self.write_data()
        ids = self.stored_ids()
        self.built_at = _now()
        manifest = StoredManifest(
            format=self.FORMAT, count=len(ids), ids_digest=ids_digest(ids), built_at=self.built_at,
            files={p.relative_to(self.directory).as_posix(): self._digest(p) for p in paths},
            params=self.build_params())
        atomic_write_bytes(self.manifest_path, manifest.to_json().encode("utf-8"))
        return manifest

    def _digest(self, path: Path) -> str:
        """A file's checksum; one this part already hashed and that has not changed since (same
        size and modification time) is not read again: a save after one new article hashes what
        it wrote, not every unchanged segment."""
        cache = self.__dict__.setdefault("_digests", {})
        st = path.stat()
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        hit = cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        digest = file_digest(path)
        cache[path] = (key, digest)
        return digest

    def load_saved(self) -> str | None:
        """Fill this (empty) part from disk; None when loaded or never saved, else the reason.
        Never raises."""
        try:
            return self._load_checked()
        except Exception as exc:  # a damaged file can make any library raise anything
            detail = (str(exc).splitlines() or [""])[0][:120]
            return f"{self.LABEL} cannot be read ({type(exc).__name__}{': ' + detail if detail else ''})"

    def _load_checked(self) -> str | None:
        if not self.manifest_path.exists() and not any(p.exists() for p in self.data_paths()):
            return None
        try:
            manifest = StoredManifest.from_json(self.manifest_path.read_text("utf-8"))
        except (OSError, ValueError, TypeError) as exc:
            return f"{self.LABEL} manifest is missing or unreadable ({type(exc).__name__})"
        if manifest.version != STORED_VERSION or manifest.format != self.FORMAT:
            return (f"{self.LABEL} was saved in another format ({manifest.format or 'without checksums'}, "
                    f"version {manifest.version})")
        for key, value in self.build_params().items():
            if manifest.params.get(key) != value:
                return (f"{self.LABEL} was built with other settings: {key}={manifest.params.get(key)!r}, "
                        f"the settings say {value!r}")
        stamp = self._read_stamp()
        seen: dict[str, list] = {}
        for name, digest in manifest.files.items():
            path = self.directory / name
            seen[name] = self._verified(path, digest, stamp.get(name))
            if not seen[name]:
                state = "is missing" if not path.exists() else "does not match its checksum"
                return (f"{self.LABEL} cannot be read: its files do not match their manifest "
                        f"({name} {state}: a torn write or corruption)")
        reason = self.read_data(manifest)
        if reason:
            return reason
        ids = self.stored_ids()
        if len(ids) != manifest.count or ids_digest(ids) != manifest.ids_digest:
            return f"{self.LABEL} files do not match their manifest"
        self.built_at = manifest.built_at
        self._write_stamp(stamp, seen)
        return None

    # -- the verified stamp ------------------------------------------------------------

    @property
    def stamp_path(self) -> Path:
        return self.manifest_path.with_name(self.manifest_path.name + STAMP_SUFFIX)

    def _read_stamp(self) -> dict:
        """The stamp's entries (name -> [size, mtime_ns, inode, checksum]); {} if absent or unreadable."""
        try:
            data = json.loads(self.stamp_path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _verified(self, path: Path, digest: str, entry) -> list:
        """[size, mtime_ns, inode, checksum] of a file that matches `digest`, stat taken before it
        was read; [] if missing or not matching. Hashed unless the stamp's `entry` says this very
        file (same stat) was verified against this checksum before."""
        try:
            st = os.stat(path)
        except OSError:
            return []
        if not stat.S_ISREG(st.st_mode):
            return []
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        if entry == [*key, digest]:
            self.__dict__.setdefault("_digests", {})[path] = (tuple(key), digest)  # as if hashed here
            return entry
        return [*key, digest] if self._digest(path) == digest else []

    def _write_stamp(self, old: dict, seen: dict[str, list]) -> None:
        """Record the files just verified (those not changed within RACY_NS); never raises: a
        read-only directory only means the next load verifies again."""
        limit = time.time_ns() - RACY_NS
        entries = {name: e for name, e in seen.items() if e and e[1] < limit}
        if entries == old:
            return
        try:
            atomic_write_bytes(self.stamp_path, json.dumps(entries).encode("utf-8"))
        except OSError as exc:
            log.debug("cannot write %s: %s", self.stamp_path, exc)

    @classmethod
    def load(cls, *args, **kwargs) -> tuple[Self, str | None]:
        """(the saved part, None), or (a fresh empty part, the reason to rebuild it). Never raises
        for anything on disk; takes the constructor's arguments."""
        part = cls(*args, **kwargs)
        reason = part.load_saved()
        return (cls(*args, **kwargs), reason) if reason else (part, None)

    @classmethod
    def describe(cls, directory: Path) -> dict:
        """Status figures from the manifest alone (nothing heavy is loaded): count, build time,
        bytes on disk and build parameters; or the error reading the manifest."""
        path = Path(directory) / cls.MANIFEST
        if not path.exists():
            return {"count": None, "built_at": None, "bytes": 0, "params": {}}
        try:
            m = StoredManifest.from_json(path.read_text("utf-8"))
        except (OSError, ValueError, TypeError):
            return {"error": "manifest unreadable"}
        files = [Path(directory) / name for name in m.files]
        size = sum(p.stat().st_size for p in files if p.is_file())
        return {"count": m.count, "built_at": m.built_at, "bytes": size, "params": m.params}

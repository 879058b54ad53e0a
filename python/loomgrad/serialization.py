"""``lg.save`` / ``lg.load``: checkpoints in a format that cannot run code.

A file is an uncompressed ``.npz`` (a zip of ``.npy`` arrays, as
``numpy.savez`` writes it) plus one entry, ``__loomgrad__.json``, that
describes the saved object's structure: nested dicts (any str/int/float/bool/
None keys, so optimizer ``state_dict`` indices survive), lists, tuples,
Tensors (dtype and ``requires_grad``; Parameters stay Parameters), NumPy
arrays, NumPy scalars, Python numbers (ints of any size, floats bit-exact),
strings, bools and None. Nothing is ever unpickled.

Writes are atomic: the file is written to a temporary file in the same
directory, flushed and fsync'ed, then renamed over the target (and the
directory fsync'ed), so a crash mid-save leaves the previous file intact.

Reads are bounded: every entry must be stored uncompressed (no zip bombs),
each array's declared shape must match the bytes its entry really holds
(no giant allocations from a forged header), object and structured dtypes
are refused, and the JSON is size-limited and schema-checked. Any problem
raises :class:`LoadError` (a ValueError) naming the path.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .device import move as _move, parse_device as _parse_device
from .tensor import Tensor

__all__ = ["save", "load", "LoadError"]

_META = "__loomgrad__.json"
_FORMAT = "loomgrad.save"
_VERSION = 1
_MAX_META_BYTES = 64 << 20
_MAX_ENTRIES = 1 << 20
_MAX_DEPTH = 200
_ARRAY_KINDS = "biufc"  # bool, ints, uints, floats, complex: plain bytes, nothing else


class LoadError(ValueError):
    """A file that :func:`load` refuses: truncated, corrupted, hostile or not ours."""


# ------------------------------------------------------------------ save
class _Encoder:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, a: np.ndarray, where: str) -> str:
        if a.dtype.kind not in _ARRAY_KINDS or a.dtype.fields is not None:
            raise TypeError(f"save: {where}: cannot save an array of dtype {a.dtype} (only "
                            f"bool, integer, floating and complex arrays)")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = a if a.flags.c_contiguous else a.copy(order="C")  # keeps 0-d
        return name

    def key(self, k, where):
        if k is None or isinstance(k, (bool, str)):
            return self.value(k, where, 0)
        if isinstance(k, (int, float, np.integer, np.floating)):
            return self.value(k.item() if isinstance(k, np.generic) else k, where, 0)
        raise TypeError(f"save: {where}: dict keys must be str, int, float, bool or None, got "
                        f"{type(k).__name__}")

    def value(self, v, where: str, depth: int):
        from .nn.parameter import Parameter

        if depth > _MAX_DEPTH:
            raise ValueError(f"save: {where}: nested deeper than {_MAX_DEPTH} levels")
        if v is None:
            return {"t": "none"}
        if isinstance(v, bool):
            return {"t": "bool", "v": v}
        if isinstance(v, int):
            return {"t": "int", "v": str(v)}
        if isinstance(v, float):
            return {"t": "float", "v": v.hex()}
        if isinstance(v, str):
            return {"t": "str", "v": v}
        if isinstance(v, Tensor):
            data = v.data
            if not isinstance(data, np.ndarray):  # a GPU array: saved from host memory
                data = v.numpy(force=True)
            return {"t": "param" if isinstance(v, Parameter) else "tensor",
                    "a": self._array(data, where), "rg": bool(v.requires_grad)}
        if isinstance(v, np.ndarray):
            return {"t": "ndarray", "a": self._array(v, where)}
        if hasattr(v, "__cuda_array_interface__") and hasattr(v, "get"):
            # a CuPy array (e.g. optimizer state of a GPU model): saved from host memory,
            # loaded as a NumPy array
            return {"t": "ndarray", "a": self._array(v.get(), where)}
        if isinstance(v, np.generic):
            return {"t": "npscalar", "a": self._array(np.asarray(v), where)}
        if isinstance(v, dict):
            return {"t": "dict", "v": [[self.key(k, f"{where}[{k!r}]"),
                                        self.value(x, f"{where}[{k!r}]", depth + 1)]
                                       for k, x in v.items()]}
        if isinstance(v, (list, tuple)):
            return {"t": "list" if isinstance(v, list) else "tuple",
                    "v": [self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]}
        raise TypeError(f"save: {where}: cannot save a {type(v).__name__} (only Tensors, NumPy "
                        f"arrays, numbers, strings, bools, None and dicts/lists/tuples of them)")


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_npz(f, meta: bytes, arrays: dict) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_META, meta)
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a, allow_pickle=False)
            zf.writestr(name + ".npy", buf.getvalue())


def save(obj, path) -> None:
    """Save ``obj`` (a state_dict, an optimizer state_dict, or nested
    dicts/lists/tuples of Tensors, NumPy arrays, numbers, strings, bools and
    None) to ``path``, atomically. Raises TypeError for anything else."""
    path = os.fspath(path)
    enc = _Encoder()
    root = enc.value(obj, "obj", 0)
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root},
                      separators=(",", ":")).encode()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, meta, enc.arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


# ------------------------------------------------------------------ load
class _Decoder:
    def __init__(self, path: str, zf: zipfile.ZipFile, infos: dict, file_size: int):
        self.path, self.zf, self.infos, self.file_size = path, zf, infos, file_size
        self.used: set[str] = set()

    def fail(self, msg: str):
        raise LoadError(f"load: {self.path}: {msg}")

    def array(self, name) -> np.ndarray:
        if not isinstance(name, str) or name + ".npy" not in self.infos:
            self.fail(f"metadata refers to a missing array {name!r}")
        if name in self.used:
            self.fail(f"array {name!r} is referenced twice")
        self.used.add(name)
        info = self.infos[name + ".npy"]
        with self.zf.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    self.fail(f"array {name!r}: unsupported .npy version {version}")
            except LoadError:
                raise
            except Exception as e:
                self.fail(f"array {name!r}: bad .npy header ({e})")
            if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.hasobject:
                self.fail(f"array {name!r} has dtype {dtype}; only bool, integer, floating and "
                          f"complex arrays are loaded (never objects)")
            count = 1
            for s in shape:
                if not isinstance(s, int) or s < 0:
                    self.fail(f"array {name!r}: bad shape {shape}")
                count *= s
            nbytes = count * dtype.itemsize
            header_len = f.tell()
            if nbytes != info.file_size - header_len:
                self.fail(f"array {name!r} declares shape {shape} ({nbytes} bytes) but its entry "
                          f"holds {info.file_size - header_len} bytes (truncated or forged)")
            try:
                raw = f.read(nbytes)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                self.fail(f"array {name!r}: corrupted data ({e})")
        if len(raw) != nbytes:
            self.fail(f"array {name!r}: truncated data ({len(raw)} of {nbytes} bytes)")
        a = np.frombuffer(raw, dtype=dtype, count=count)
        order = "F" if fortran else "C"
        return a.reshape(shape, order=order).copy(order="C")

    def key(self, node, depth):
        if not isinstance(node, dict) or node.get("t") not in ("none", "bool", "int", "float",
                                                                 "str"):
            self.fail("bad dict key in metadata")
        return self.value(node, depth)

    def value(self, node, depth: int):
        from .nn.parameter import Parameter

        if depth > _MAX_DEPTH:
            self.fail(f"metadata nested deeper than {_MAX_DEPTH} levels")
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            self.fail("malformed metadata node")
        t, v = node["t"], node.get("v")
        try:
            if t == "none":
                return None
            if t == "bool" and isinstance(v, bool):
                return v
            if t == "int" and isinstance(v, str) and len(v) <= 4300:
                return int(v)
            if t == "float" and isinstance(v, str) and len(v) <= 64:
                return float.fromhex(v)
            if t == "str" and isinstance(v, str):
                return v
        except ValueError:
            self.fail(f"bad {t} value {v!r:.40} in metadata")
        if t in ("tensor", "param"):
            a = self.array(node.get("a"))
            rg = node.get("rg")
            if not isinstance(rg, bool):
                self.fail("tensor without a requires_grad flag")
            if rg and a.dtype.kind not in "fc":
                self.fail(f"tensor of dtype {a.dtype} cannot require grad")
            return Parameter(a, requires_grad=rg) if t == "param" else Tensor(a, requires_grad=rg)
        if t == "ndarray":
            return self.array(node.get("a"))
        if t == "npscalar":
            a = self.array(node.get("a"))
            if a.shape != ():
                self.fail("a NumPy scalar with a non-scalar shape")
            return a[()]
        if t == "dict" and isinstance(v, list):
            out = {}
            for item in v:
                if not isinstance(item, list) or len(item) != 2:
                    self.fail("malformed dict item in metadata")
                out[self.key(item[0], depth + 1)] = self.value(item[1], depth + 1)
            return out
        if t in ("list", "tuple") and isinstance(v, list):
            items = [self.value(x, depth + 1) for x in v]
            return items if t == "list" else tuple(items)
        self.fail(f"unknown or malformed metadata node of type {t!r:.40}")


def load(path, map_location=None):
    """Load what :func:`save` wrote. Raises :class:`LoadError` (a ValueError)
    naming ``path`` for a truncated, corrupted, hostile or foreign file, and
    FileNotFoundError when there is none.

    Tensors load on the CPU (a file never records a device: a checkpoint from a
    GPU run loads anywhere); ``map_location`` ("cpu", "cuda", "cuda:N" or an
    ``lg.device``) puts them on that device instead. NumPy arrays stay NumPy."""
    if map_location is not None:
        dev = _parse_device(map_location)  # bad names and missing CUDA fail before reading
        obj = load(path)
        return obj if dev.type == "cpu" else _to_device(obj, dev)
    path = os.fspath(path)
    file_size = os.path.getsize(path)
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise LoadError(f"load: {path}: not a loomgrad checkpoint (not a valid zip/npz: "
                        f"{e})") from None
    with zf:
        dec = _Decoder(path, zf, {}, file_size)
        infos = zf.infolist()
        if len(infos) > _MAX_ENTRIES:
            dec.fail(f"{len(infos)} entries is too many")
        total = 0
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED:
                dec.fail(f"entry {info.filename!r} is compressed; loomgrad files store entries "
                         f"uncompressed (refusing a possible zip bomb)")
            if info.file_size != info.compress_size or info.file_size > file_size:
                dec.fail(f"entry {info.filename!r} declares {info.file_size} bytes in a "
                         f"{file_size}-byte file")
            total += info.file_size
            if info.filename in dec.infos:
                dec.fail(f"duplicate entry {info.filename!r}")
            dec.infos[info.filename] = info
        if total > file_size:
            dec.fail(f"entries declare {total} bytes in a {file_size}-byte file")
        if _META not in dec.infos:
            dec.fail(f"no {_META} entry: not a file written by loomgrad.save (loomgrad never "
                     f"loads pickles)")
        if dec.infos[_META].file_size > _MAX_META_BYTES:
            dec.fail("metadata is too large")
        try:
            meta = json.loads(zf.read(_META).decode("utf-8"))
        except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, ValueError,
                RecursionError) as e:
            dec.fail(f"unreadable metadata ({type(e).__name__}: {e})")
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            dec.fail("metadata is not loomgrad.save's")
        if meta.get("version") != _VERSION:
            dec.fail(f"format version {meta.get('version')!r} is not supported (this loomgrad "
                     f"reads version {_VERSION})")
        try:
            return dec.value(meta.get("root"), 0)
        except RecursionError:
            dec.fail("metadata nested too deeply")


def _to_device(v, dev):
    """``v`` with every Tensor moved to ``dev`` in place (Parameters stay Parameters)."""

    if isinstance(v, Tensor):
        v.data = _move(v.data, dev)
        return v
    if isinstance(v, dict):
        return {k: _to_device(x, dev) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        items = [_to_device(x, dev) for x in v]
        return items if isinstance(v, list) else tuple(items)
    return v

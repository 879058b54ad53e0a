"""``lg.save`` / ``lg.load``: checkpoints in a format that cannot run code.

A file is an uncompressed ``.npz`` (a zip of ``.npy`` arrays, as
``numpy.savez`` writes it) plus one entry, ``__loomgrad__.json``, that
describes the saved object's structure: nested dicts (any str/int/float/bool/
None keys, so optimizer ``state_dict`` indices survive), lists, tuples,
Tensors (dtype and ``requires_grad``; Parameters stay Parameters), NumPy
arrays, NumPy scalars, Python numbers (ints of any size, floats bit-exact),
strings, bools and None, dtypes, devices, and whole Modules. Nothing is ever unpickled.

A Module is stored as its importable class path (``"loomgrad.nn.linear.Linear"``,
``"__main__.Net"``), the arguments its constructor was called with (recorded by
``Module.__new__``, in this same format: numbers, strings, dtypes, Tensors, other
Modules...), its ``training`` flag and its ``state_dict``; ``load`` calls the class
again with those arguments and loads the state. Only loomgrad's own classes and classes
registered with :func:`add_safe_globals` (torch's name) are rebuilt: any other class
path is a :class:`LoadError` naming it, and no module outside loomgrad is imported. A
model whose structure was changed after construction (a layer replaced) is rebuilt as
constructed and then fails ``load_state_dict`` with the differing keys; save its
``state_dict`` instead.

``save`` and ``load`` take a path or a binary file object (an open file, ``io.BytesIO``);
writes to a path are atomic (below), a file object is written where it stands.

Writes are atomic: the file is written to a temporary file in the same
directory, flushed and fsync'ed, then renamed over the target (and the
directory fsync'ed), so a crash mid-save leaves the previous file intact.
The file gets the permissions ``open(path, "wb")`` would give it: a new file
0o666 less the user's umask, a replaced file its previous mode.

Reads are bounded: every entry must be stored uncompressed (no zip bombs),
each array's declared shape must match the bytes its entry really holds
(no giant allocations from a forged header), object and structured dtypes
are refused, and the JSON is size-limited and schema-checked. Any problem
raises :class:`LoadError` (a ValueError) naming the path.
"""
from __future__ import annotations

import importlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .device import device as _device, move as _move, parse_device as _parse_device
from .nn.module import Module
from .nn.parameter import Parameter
from .tensor import Tensor, _parse_dtype

__all__ = ["save", "load", "LoadError", "add_safe_globals", "get_safe_globals",
           "clear_safe_globals"]

_META = "__loomgrad__.json"
_FORMAT = "loomgrad.save"
_VERSION = 1
_MAX_META_BYTES = 64 << 20
_MAX_ENTRIES = 1 << 20
_MAX_DEPTH = 200
_ARRAY_KINDS = "biufc"  # bool, ints, uints, floats, complex: plain bytes, nothing else


class LoadError(ValueError):
    """A file that :func:`load` refuses: truncated, corrupted, hostile or not ours."""


_safe_classes: dict[str, type] = {}


def _class_path(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def add_safe_globals(classes) -> None:
    """Allow :func:`load` to rebuild these Module classes (torch's name). loomgrad's own
    classes are always allowed; a user's model class (say ``__main__.Net``) must be
    registered in the loading process before ``load``."""
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise TypeError(f"add_safe_globals: expected Module subclasses, got {cls!r}")
        _safe_classes[_class_path(cls)] = cls


def get_safe_globals() -> list:
    """The classes registered with :func:`add_safe_globals`."""
    return list(_safe_classes.values())


def clear_safe_globals() -> None:
    """Forget every class registered with :func:`add_safe_globals`."""
    _safe_classes.clear()


def _loomgrad_class(path: str):
    """The loomgrad class at ``path`` ("loomgrad.nn.linear.Linear"), or None."""
    if not path.startswith("loomgrad.") or not all(part.isidentifier()
                                                   for part in path.split(".")):
        return None
    modname, _, qual = path.rpartition(".")
    try:
        obj = importlib.import_module(modname)
    except ImportError:
        return None
    obj = getattr(obj, qual, None)
    return obj if isinstance(obj, type) and issubclass(obj, Module) else None


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
            data = v.array
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
        if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
            return {"t": "dtype", "v": np.dtype(v).str}
        if isinstance(v, _device):
            return {"t": "device", "v": str(v)}
        if isinstance(v, Module):
            return self.module(v, where, depth, with_state=True)
        if isinstance(v, dict):
            return {"t": "dict", "v": [[self.key(k, f"{where}[{k!r}]"),
                                        self.value(x, f"{where}[{k!r}]", depth + 1)]
                                       for k, x in v.items()]}
        if isinstance(v, (list, tuple)):
            return {"t": "list" if isinstance(v, list) else "tuple",
                    "v": [self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]}
        raise TypeError(f"save: {where}: cannot save a {type(v).__name__} (only Tensors, NumPy "
                        f"arrays, numbers, strings, bools, None and dicts/lists/tuples of them)")


    def module(self, m, where: str, depth: int, with_state: bool):
        init = getattr(m, "_init_args", None)
        if init is None:
            raise TypeError(f"save: {where}: this {type(m).__name__} has no recorded "
                            f"constructor arguments; save its state_dict() instead")
        args, kwargs = init
        try:
            enc_args = [self.arg(a, f"{where}: argument {i} of {type(m).__name__}()", depth)
                        for i, a in enumerate(args)]
            enc_kwargs = [[k, self.arg(a, f"{where}: argument {k}= of {type(m).__name__}()",
                                       depth)] for k, a in kwargs.items()]
        except TypeError as e:
            raise TypeError(f"{e}; a whole Module is saved as its class and constructor "
                            f"arguments: save its state_dict() instead") from None
        node = {"t": "module", "cls": _class_path(type(m)), "args": enc_args,
                "kwargs": enc_kwargs, "training": bool(m.training)}
        if with_state:
            node["state"] = self.value(m.state_dict(), f"{where}.state_dict()", depth + 1)
        return node

    def arg(self, a, where, depth):
        """A constructor argument: a sub-Module is stored without its state (the
        enclosing module's state_dict holds it)."""
        if isinstance(a, Module):
            return self.module(a, where, depth + 1, with_state=False)
        if isinstance(a, (list, tuple)) and any(isinstance(x, Module) for x in a):
            return {"t": "list" if isinstance(a, list) else "tuple",
                    "v": [self.arg(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(a)]}
        if isinstance(a, dict) and any(isinstance(x, Module) for x in a.values()):
            return {"t": "dict", "v": [[self.key(k, where), self.arg(x, f"{where}[{k!r}]",
                                                                  depth + 1)]
                                       for k, x in a.items()]}
        return self.value(a, where, depth + 1)


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


def _umask() -> int:
    """The process umask: Linux's /proc/self/status tells it without changing it; elsewhere
    it is read by setting it and putting it back (POSIX has no getter), which leaves a short
    window where another thread's new file would get 0o022."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(path: str) -> int:
    """The permission bits ``open(path, "wb")`` would leave: an existing file keeps its own,
    a new one gets 0o666 & ~umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def save(obj, f) -> None:
    """Save ``obj`` (a Module, a state_dict, an optimizer state_dict, or nested
    dicts/lists/tuples of Tensors, NumPy arrays, numbers, strings, bools and
    None) to ``f``: a path (written atomically) or a binary file object opened for
    writing. Raises TypeError for anything else."""
    enc = _Encoder()
    root = enc.value(obj, "obj", 0)
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root},
                      separators=(",", ":")).encode()
    if hasattr(f, "write"):
        _write_npz(f, meta, enc.arrays)
        if hasattr(f, "flush"):
            f.flush()
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        # mkstemp makes 0600 files; a checkpoint gets what open() would give
        os.fchmod(fd, _new_file_mode(path))
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
        if t == "dtype" and isinstance(v, str) and len(v) <= 8:
            try:
                return _parse_dtype(np.dtype(v)).type
            except (TypeError, ValueError):
                self.fail(f"bad dtype {v!r} in metadata")
        if t == "device" and isinstance(v, str) and len(v) <= 16:
            try:
                return _device(v)
            except (TypeError, ValueError) as e:
                self.fail(f"bad device {v!r} in metadata ({e})")
        if t == "module":
            return self.module(node, depth)
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


    def module(self, node, depth):
        path = node.get("cls")
        if not isinstance(path, str) or len(path) > 512:
            self.fail("a module node without a class path")
        cls = _safe_classes.get(path) or _loomgrad_class(path)
        if cls is None:
            raise LoadError(f"load: {self.path}: refusing to rebuild class {path!r}: only "
                            f"loomgrad's classes and those registered with "
                            f"lg.serialization.add_safe_globals([...]) are loaded")
        args, kwargs = node.get("args"), node.get("kwargs")
        if not isinstance(args, list) or not isinstance(kwargs, list) or not all(
                isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str)
                for kv in kwargs):
            self.fail(f"malformed constructor arguments for {path}")
        args = [self.value(a, depth + 1) for a in args]
        kwargs = {k: self.value(a, depth + 1) for k, a in kwargs}
        try:
            m = cls(*args, **kwargs)
        except Exception as e:
            raise LoadError(f"load: {self.path}: rebuilding {path} failed: "
                            f"{type(e).__name__}: {e}") from e
        if "state" in node:
            state = self.value(node["state"], depth + 1)
            if not isinstance(state, dict):
                self.fail(f"the state of {path} is not a dict")
            m.load_state_dict(state)
        m.train(bool(node.get("training", True)))
        return m


def load(f, map_location=None, weights_only=None):
    """Load what :func:`save` wrote. Raises :class:`LoadError` (a ValueError)
    naming ``path`` for a truncated, corrupted, hostile or foreign file, and
    FileNotFoundError when there is none.

    ``f`` is a path or a binary file object opened for reading (an open file,
    ``io.BytesIO``). Tensors load on the CPU (a file never records a device: a
    checkpoint from a GPU run loads anywhere); ``map_location`` ("cpu", "cuda",
    "cuda:N" or an ``lg.device``) puts them on that device instead. NumPy arrays stay
    NumPy. ``weights_only`` is accepted for torch's signature: loading never runs
    code either way (Modules: only allowed classes, see the module docstring)."""
    if map_location is not None:
        dev = _parse_device(map_location)  # bad names and missing CUDA fail before reading
        obj = load(f)
        return obj if dev.type == "cpu" else _to_device(obj, dev)
    if hasattr(f, "read"):
        path = getattr(f, "name", None) or f"<{type(f).__name__}>"
        if not isinstance(path, str):
            path = f"<{type(f).__name__}>"
        start = f.tell()
        file_size = f.seek(0, io.SEEK_END) - start
        f.seek(start)
        source = f
    else:
        path = os.fspath(f)
        file_size = os.path.getsize(path)
        source = path
    try:
        zf = zipfile.ZipFile(source, "r")
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
        v.array = _move(v.array, dev)
        return v
    if isinstance(v, Module):
        return v.to(dev)
    if isinstance(v, dict):
        return {k: _to_device(x, dev) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        items = [_to_device(x, dev) for x in v]
        return items if isinstance(v, list) else tuple(items)
    return v

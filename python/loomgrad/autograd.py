"""The autograd engine: graph nodes, grad mode, and the backward pass.

The tape is the graph itself. Every differentiable op is a :class:`Function`
subclass; calling ``Cls.apply(*tensors, **kw)`` runs ``forward`` on the raw
arrays and, when some input requires grad (and grad mode is on), makes the
Function instance the output's ``grad_fn``. A node keeps

* ``edges``: one entry per input — the input's own ``grad_fn`` (non-leaf),
  the input Tensor itself (a leaf that requires grad: its ``.grad`` is the
  sink), or None (no gradient wanted);
* ``saved``: the arrays its backward needs (a tuple), set by ``forward``.

Nodes never hold intermediate Tensors, only their arrays in ``saved``, so
after ``backward(retain_graph=False)`` replaces every ``saved`` with
``_FREED`` the activations are released even while the output Tensor lives;
a second backward through such a node raises, like PyTorch.

``backward`` walks the graph twice without recursion: a DFS with an explicit
stack counts each node's consumers, then Kahn's algorithm runs each node once
all its consumers have delivered their gradient (so reused non-leaves and
diamonds sum correctly, and a 10,000-op chain needs no deep Python stack).
"""
from __future__ import annotations

import functools
import threading
import weakref

import numpy as np

from . import cuda

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "backward", "array_module", "check_same_device", "device_name", "register_post_accumulate_grad_hook", "queue_callback"]

_FREED = object()  # marks a node whose saved arrays were released by backward
# A callable(fn, inputs, kwargs, output) that sees every Function.apply while set (the ONNX
# exporter's tracer, loomgrad/onnx.py); None otherwise: one global test per op.
trace_hook = None
_Tensor = None  # loomgrad.tensor.Tensor, set by that module (it imports this one)


class _GradMode(threading.local):
    """Per thread, like torch: a no_grad() in one thread (say, a data loader's)
    must not switch recording off in another."""

    def __init__(self):
        self.enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when new ops record a graph (see :class:`no_grad`)."""
    return _mode.enabled


class _GradModeContext:
    """Base for no_grad / enable_grad / set_grad_enabled: a context manager
    and a decorator; a stack of previous states makes nesting (and recursive
    decorated functions) restore correctly."""

    _target = True

    def __init__(self):
        self._prev = []

    def __enter__(self):
        self._prev.append(_mode.enabled)
        _mode.enabled = self._target
        return self

    def __exit__(self, *exc):
        _mode.enabled = self._prev.pop()
        return False

    def __call__(self, func):
        target = self._target

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            prev = _mode.enabled
            _mode.enabled = target
            try:
                return func(*args, **kwargs)
            finally:
                _mode.enabled = prev
        return wrapper


class no_grad(_GradModeContext):
    """Disable graph recording: ``with lg.no_grad(): ...`` or ``@lg.no_grad()``.

    Results of ops inside have ``requires_grad=False`` and no ``grad_fn``.
    """

    _target = False


class enable_grad(_GradModeContext):
    """Re-enable graph recording inside a :class:`no_grad` block (also a decorator)."""

    _target = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(mode)``: sets grad mode at once (like torch), and as a
    context manager restores the previous mode on exit."""

    def __init__(self, mode: bool):
        super().__init__()
        self._target = bool(mode)
        self._prev.append(_mode.enabled)
        _mode.enabled = self._target

    def __enter__(self):
        return self  # the mode was already set in __init__

    def __exit__(self, *exc):
        if self._prev:
            _mode.enabled = self._prev.pop()
        return False

    def __call__(self, func):
        if self._prev:  # as a decorator, the mode applies inside func only
            _mode.enabled = self._prev.pop()
        return super().__call__(func)


def array_module(a):
    """numpy for NumPy arrays, cupy for CuPy arrays (imported only then)."""
    if isinstance(a, np.ndarray) or isinstance(a, np.generic):
        return np
    return cuda._require()[1]


def device_name(a) -> str:
    """'cpu' for NumPy data, 'cuda:N' for a GPU array (torch's spelling)."""
    if isinstance(a, (np.ndarray, np.generic)):
        return "cpu"
    dev = getattr(a, "device", None)
    return f"cuda:{getattr(dev, 'id', 0)}"


def check_same_device(arrays, what: str) -> None:
    """RuntimeError (torch's wording) when ``arrays`` live on different devices.

    On the CPU this costs one isinstance per array; GPU ids are compared only
    when the data is on the GPU."""
    cpu = isinstance(arrays[0], np.ndarray)
    if cpu:
        for a in arrays[1:]:
            if not isinstance(a, np.ndarray):
                break
        else:
            return
    names = sorted({device_name(a) for a in arrays})
    if len(names) == 1:  # all on one GPU, or NumPy scalars beside NumPy arrays
        return
    raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                       f"devices, {names[0]} and {names[1]} (in {what}); move them with "
                       f".to(device)")


class Function:
    """One differentiable op: ``forward`` on arrays, ``backward`` on arrays.

    Subclasses implement ``forward(self, *arrays, **kw) -> array`` (saving
    what backward needs in ``self.saved`` or in small attributes) and
    ``backward(self, grad) -> tuple`` with one gradient (or None) per input,
    already reduced to that input's shape. ``self.needs_input_grad`` is set
    before ``forward`` so an op may skip saving what no gradient needs.
    """

    # subclasses keep a __dict__ for their small attributes (axes, shapes)
    __slots__ = ("edges", "saved", "needs_input_grad", "out_dtype", "retained", "versions",
                 "__weakref__")

    def __init__(self):
        self.saved = ()
        self.retained = None
        self.versions = None

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run the op on Tensors ``inputs`` and record it on the tape."""
        fn = cls()
        needs = tuple(t._requires_grad for t in inputs)
        record = _mode.enabled and any(needs)
        fn.needs_input_grad = needs if record else (False,) * len(inputs)
        if len(inputs) > 1:  # the device check; all-NumPy inputs pass on a type test
            for t in inputs:
                if type(t.array) is not np.ndarray:
                    check_same_device([t.array for t in inputs], cls.__name__)
                    break
        out = fn.forward(*[t.array for t in inputs], **kwargs)
        if isinstance(out, np.generic):
            out = np.asarray(out)
        if not record:
            result = _Tensor._wrap(out)
            if trace_hook is not None:
                trace_hook(fn, inputs, kwargs, result)
            return result
        fn.edges = tuple((t.grad_fn if t.grad_fn is not None else t) if n else None
                         for t, n in zip(inputs, needs))
        fn.out_dtype = out.dtype
        result = _Tensor._wrap(out, fn)
        if fn.saved:
            fn.versions = _saved_versions(fn.saved, inputs + (result,))
        if trace_hook is not None:
            trace_hook(fn, inputs, kwargs, result)
        return result

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def next_functions(self):
        """The nodes feeding this one (a leaf Tensor stands for its accumulator)."""
        return tuple(self.edges)

    def name(self) -> str:
        return type(self).__name__ + "Backward0"

    def __repr__(self):
        return f"<{self.name()} object>"


def _saved_versions(saved, tensors):
    """(version box, version now) of each of ``tensors`` whose array a node saved
    (itself or as the base of a saved view), so backward can tell whether an in-place
    op changed it since; None when it saved none of them."""
    out = None
    for t in tensors:
        a = t.array
        for s in saved:
            if s is not None and (s is a or getattr(s, "base", None) is a):
                box = t._version_box()
                if out is None:
                    out = []
                out.append((box, box[0]))
                break
    return out


def _check_versions(fn) -> None:
    for box, v in fn.versions:
        if box[0] != v:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: an array saved by {fn.name()} is at version {box[0]}; "
                f"expected version {v} instead. Use out-of-place ops (x = x + 1) or .clone() "
                f"before modifying it in place.")


def _accumulate(grads, key, g):
    prev = grads.get(key)
    # out-of-place: g may alias another node's gradient (add passes one array on)
    grads[key] = g if prev is None else prev + g


# ------------------------------------------------------------------ hooks
# Post-accumulate-grad hooks, by id of the leaf (Tensor has __slots__ and an
# elementwise __eq__, so neither an attribute nor a WeakKeyDictionary fits); a
# weakref callback drops the entry when the leaf dies, before its id is reused.
_post_acc_hooks = {}


class _HookHandle:
    """Returned by register_post_accumulate_grad_hook; ``remove()`` unregisters."""

    def __init__(self, key, hook):
        self._key, self._hook = key, hook

    def remove(self) -> None:
        entry = _post_acc_hooks.get(self._key)
        if entry is not None and self._hook in entry[1]:
            entry[1].remove(self._hook)
            if not entry[1]:
                del _post_acc_hooks[self._key]


def register_post_accumulate_grad_hook(t, hook) -> _HookHandle:
    """Call ``hook(t)`` each time backward has finished accumulating into leaf ``t.grad``
    (like torch's ``Tensor.register_post_accumulate_grad_hook``).

    A hooked leaf's gradient is added to ``.grad`` as soon as every node that feeds
    it has run, not at the end of backward, so the hook can start work (say, a
    gradient all-reduce) while the rest of backward goes on. Returns a handle
    with ``remove()``.
    """
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__name__}")
    if t.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    key = id(t)
    entry = _post_acc_hooks.get(key)
    if entry is None or entry[0]() is not t:
        entry = (weakref.ref(t, lambda _r, k=key, d=_post_acc_hooks: d.pop(k, None)), [])
        _post_acc_hooks[key] = entry
    entry[1].append(hook)
    return _HookHandle(key, hook)


def _hooks_of(t):
    entry = _post_acc_hooks.get(id(t))
    return entry[1] if entry is not None and entry[0]() is t else None


def _run_post_acc_hooks(t) -> None:
    for hook in list(_hooks_of(t) or ()):
        hook(t)


class _EngineState(threading.local):
    def __init__(self):
        self.depth = 0
        self.callbacks = []


_engine = _EngineState()


def queue_callback(fn) -> None:
    """Run ``fn()`` once the backward now running has finished (all leaf grads and
    hooks done); like torch's ``Variable._execution_engine.queue_callback``. Only
    valid inside backward (from a hook). Callbacks are dropped if backward raises."""
    if _engine.depth == 0:
        raise RuntimeError("queue_callback: only valid while backward is running")
    _engine.callbacks.append(fn)


def backward(root, grad, retain_graph: bool = False) -> None:
    """Back-propagate ``grad`` (an array shaped like ``root``) from Tensor ``root``."""
    _engine.depth += 1
    try:
        _run_backward(root, grad, retain_graph)
    except BaseException:
        if _engine.depth == 1:
            _engine.callbacks.clear()
        raise
    finally:
        _engine.depth -= 1
    if _engine.depth == 0:
        while _engine.callbacks:
            _engine.callbacks.pop(0)()


def _run_backward(root, grad, retain_graph: bool) -> None:
    Tensor = _Tensor
    start = root.grad_fn
    if start is None:  # a leaf: the gradient lands on itself
        _add_to_grad(root, grad)
        if _post_acc_hooks:
            _run_post_acc_hooks(root)
        return
    # hooked leaves get their .grad (and run their hooks) as soon as it is final
    leaf_deps = {}
    # pass 1: count, for each reachable node, how many edges point at it
    deps = {id(start): 0}
    nodes = {id(start): start}
    stack = [start]
    while stack:
        fn = stack.pop()
        for e in fn.edges:
            if e is None:
                continue
            if isinstance(e, Tensor):
                if _post_acc_hooks and _hooks_of(e):
                    leaf_deps[id(e)] = leaf_deps.get(id(e), 0) + 1
                continue
            k = id(e)
            if k in deps:
                deps[k] += 1
            else:
                deps[k] = 1
                nodes[k] = e
                stack.append(e)
    # pass 2: Kahn's order; a node runs once all its consumers have delivered
    grads = {id(start): grad}
    leaf_grads = {}
    leaves = {}
    ready = [start]
    while ready:
        fn = ready.pop()
        g = grads.pop(id(fn), None)
        if g is None:  # every consumer's gradient for it was None
            g_in = (None,) * len(fn.edges)
            if not retain_graph and fn.saved:
                fn.saved = _FREED
        else:
            if fn.saved is _FREED:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time (through "
                    f"{fn.name()}), or to use saved values after they were freed. Saved "
                    "arrays are freed after backward(); call backward(retain_graph=True) "
                    "the first time if you need to backward twice.")
            if g.dtype != fn.out_dtype:
                g = g.astype(fn.out_dtype)
            if fn.retained is not None:
                t = fn.retained()
                if t is not None:
                    _add_to_grad(t, g)
            if fn.versions is not None:
                _check_versions(fn)
            g_in = fn.backward(g)
            if not retain_graph and fn.saved:
                fn.saved = _FREED
        for e, gi in zip(fn.edges, g_in):
            if e is None:
                continue
            if isinstance(e, Tensor):
                if gi is not None:
                    _accumulate(leaf_grads, id(e), gi)
                    leaves[id(e)] = e
                if leaf_deps:
                    _leaf_done(e, leaf_deps, leaf_grads)
                continue
            k = id(e)
            if gi is not None:
                _accumulate(grads, k, gi)
            deps[k] -= 1
            if deps[k] == 0:
                ready.append(nodes[k])
    for k, g in leaf_grads.items():
        _add_to_grad(leaves[k], g)


def _leaf_done(e, leaf_deps, leaf_grads) -> None:
    """One of hooked leaf ``e``'s consumers has run; after the last, accumulate and hook."""
    k = id(e)
    n = leaf_deps.get(k)
    if n is None:
        return
    if n > 1:
        leaf_deps[k] = n - 1
        return
    del leaf_deps[k]
    g = leaf_grads.pop(k, None)
    if g is not None:  # like torch, no hook when no gradient reached the leaf
        _add_to_grad(e, g)
        _run_post_acc_hooks(e)


def _add_to_grad(t, g) -> None:
    """Accumulate array ``g`` into ``t.grad`` (in place after the first time, like torch)."""
    data = t.array
    if g.dtype != data.dtype:
        g = g.astype(data.dtype)
    if g.shape != data.shape:
        g = array_module(g).broadcast_to(g, data.shape)
    if t.grad is None:
        # own the memory: g may be a view of another gradient or of saved data;
        # and make it C-ordered (g of weight.T arrives transposed), so the
        # optimizer's elementwise updates stream both arrays in the same order.
        t.grad = _Tensor._wrap(array_module(g).array(g, copy=True, order="C"))
    else:
        t.grad.array += g


def retain(t) -> None:
    """Make non-leaf ``t`` keep its ``.grad`` (weakly referenced from its node)."""
    t.grad_fn.retained = weakref.ref(t)

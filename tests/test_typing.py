"""Types for IDEs and type checkers: py.typed and the .pyi stubs of the compiled modules are
shipped and stay true, every lg.kernels function has a return annotation, every public Tensor
method has a docstring, and mypy checks a user's script against the installed package."""
import ast
import inspect
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

import loomgrad as lg
from loomgrad import _cpu

PACKAGE = pathlib.Path(lg.__file__).parent          # the installed package
BINDINGS = pathlib.Path(__file__).resolve().parent.parent / "csrc" / "bindings"


# ------------------------------------------------------------------ reading signatures
def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and string literals."""
    parts, depth, cur, quote = [], 0, "", None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def _params_from_doc(fn) -> list[tuple[str, bool]]:
    """(name, has_default) of a pybind11 function, read from its docstring's signature."""
    first = fn.__doc__.splitlines()[0]
    m = re.fullmatch(rf"{fn.__name__}\((.*)\) -> .*", first)
    assert m, f"{fn.__name__}: unexpected pybind11 signature line {first!r}"
    return [(p.split(":")[0].strip(), "=" in p) for p in _split_top(m.group(1))]


def _stub(name: str) -> dict[str, object]:
    """The public names of an installed stub: function -> [(param, has_default)],
    class -> {public member names}."""
    tree = ast.parse((PACKAGE / f"{name}.pyi").read_text())
    out: dict[str, object] = {}
    for node in tree.body:
        if getattr(node, "name", "_").startswith("_"):  # imports, aliases, private names
            continue
        if isinstance(node, ast.FunctionDef):
            args = node.args.args
            first_default = len(args) - len(node.args.defaults)
            out[node.name] = [(a.arg, i >= first_default) for i, a in enumerate(args)]
        elif isinstance(node, ast.ClassDef):
            out[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)
                              and not n.name.startswith("_")}
    return out


# What pybind11 writes for a parameter or result, and what the stubs write, as one word each:
# the stub may say more (dtypes, TypedDicts, tuple lengths) but never something else.
_DOC_KINDS = [("numpy.ndarray", "array"), ("object", "array or None"), ("bool", "bool"),
              ("str", "str"), ("None", "None"), ("int", "int"), ("float", "float"),
              ("tuple", "tuple"), ("tuple[int, str]", "tuple"), ("dict", "dict"),
              ("loomgrad._cpu.PackedGemmB", "PackedGemmB"),
              ("typing.SupportsInt | typing.SupportsIndex", "int"),
              ("typing.SupportsFloat | typing.SupportsIndex", "float")]
_STUB_KINDS = [("_Floats", "array"), ("_Int64s", "array"), ("_Int64s | _Floats", "array"),
               ("_Floats | None", "array or None"), ("bool", "bool"), ("str", "str"),
               ("None", "None"), ("int", "int"), ("SupportsIndex", "int"), ("_Ptr", "int"),
               ("_Stream", "int"), ("float", "float"), ("SupportsFloat", "float"),
               ("_BuildInfo", "dict"), ("_StreamBandwidth", "dict"),
               ("PackedGemmB", "PackedGemmB"), ("_Shape", "shape"), ("_Pair", "pair"),
               ("_Sizes5", "sizes5")]


def _doc_kind(t: str) -> str:
    if '"FixedSize(2)"' in t:
        return "pair"
    if '"FixedSize(5)"' in t:
        return "sizes5"
    if t.startswith("collections.abc.Sequence["):
        return "shape"
    return dict(_DOC_KINDS).get(t, f"unknown {t!r}")


def _stub_kind(t: str) -> str:
    return "tuple" if t.startswith("tuple[") else dict(_STUB_KINDS).get(t, f"unknown {t!r}")


def _kinds_from_doc(fn) -> list[str]:
    """The kinds of a pybind11 function's parameters, then of its result."""
    first = fn.__doc__.splitlines()[0]
    params, ret = re.fullmatch(rf"{fn.__name__}\((.*)\) -> (.*)", first).groups()
    return [_doc_kind(p.split(":", 1)[1].split(" = ")[0].strip())
            for p in _split_top(params)] + [_doc_kind(ret)]


def _kinds_from_stub(name: str) -> dict[str, list[str]]:
    tree = ast.parse((PACKAGE / f"{name}.pyi").read_text())
    return {n.name: [_stub_kind(ast.unparse(a.annotation)) for a in n.args.args]
            + [_stub_kind(ast.unparse(n.returns))]
            for n in tree.body if isinstance(n, ast.FunctionDef)}


def _typed_dict_keys(name: str, cls: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{name}.pyi").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    return {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}


def _call_text(src: str, start: int) -> str:
    """The text of the call whose "(" is at ``start``, up to its matching ")"."""
    depth, quote, i = 0, False, start
    while True:
        ch = src[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return src[start:i + 1]
        i += 1


def _bindings_from_source(prefix: str) -> dict[str, list[tuple[str, bool]]]:
    """The m.def(...) functions of csrc/bindings/<prefix>_*.cpp with their py::arg names
    and whether each has a default (``arg("x") = ...``)."""
    out = {}
    for path in sorted(BINDINGS.glob(f"{prefix}_*.cpp")):
        src = path.read_text()
        for m in re.finditer(r'\bm\.def\(\s*"(\w+)"', src):
            call = _call_text(src, m.start() + len("m.def"))
            args = re.findall(r'\barg\("(\w+)"\)((?:\.\w+\([^()]*\))*)\s*(=)?', call)
            out[m.group(1)] = [(name, bool(eq)) for name, _, eq in args]
    return out


def _module_functions(module) -> dict[str, list[tuple[str, bool]]]:
    return {name: _params_from_doc(obj) for name, obj in vars(module).items()
            if not name.startswith("_") and callable(obj) and not isinstance(obj, type)}


# ------------------------------------------------------------------ the shipped files
@pytest.mark.parametrize("name", ["py.typed", "_cpu.pyi", "_cuda.pyi"])
def test_type_information_is_installed_with_the_package(name):
    assert (PACKAGE / name).is_file(), f"{name} is not installed in {PACKAGE}"


def test_cpu_stub_names_and_parameters_equal_the_built_module():
    stub = _stub("_cpu")
    module = _module_functions(_cpu)
    classes = {name: {m for m in dir(obj) if not m.startswith("_")}
               for name, obj in vars(_cpu).items()
               if isinstance(obj, type) and not name.startswith("_")}
    assert set(stub) == set(module) | set(classes), (
        f"missing from _cpu.pyi: {sorted(set(module) | set(classes) - set(stub))}; "
        f"in _cpu.pyi but not in _cpu: {sorted(set(stub) - set(module) - set(classes))}")
    for name, params in module.items():
        assert stub[name] == params, f"_cpu.{name}: stub {stub[name]} != module {params}"
    for name, members in classes.items():
        assert stub[name] == members, f"_cpu.{name}: stub {stub[name]} != module {members}"


def test_cpu_stub_typed_dicts_have_the_returned_keys():
    info = _cpu.build_info()
    assert set(info) == _typed_dict_keys("_cpu", "_BuildInfo")
    assert set(info["cpu_features"]) == _typed_dict_keys("_cpu", "_CpuFeatures")
    assert set(info["caches"]) == _typed_dict_keys("_cpu", "_Caches")
    bw = _cpu.measure_stream_bandwidth(threads=1, bytes_per_array=1 << 12, reps=1)
    assert set(bw) == _typed_dict_keys("_cpu", "_StreamBandwidth")


@pytest.mark.parametrize("name", ["_cpu", "_cuda"])
def test_stub_parameter_and_result_kinds_equal_the_module(name):
    try:
        module = __import__(f"loomgrad.{name}", fromlist=["_"])
    except ImportError:  # a CPU-only build: the names are checked from the source below
        pytest.skip(f"loomgrad.{name} is not built here")
    stub = _kinds_from_stub(name)
    for fname in _module_functions(module):
        doc = _kinds_from_doc(getattr(module, fname))
        assert not [k for k in doc if k.startswith("unknown")], f"{name}.{fname}: {doc}"
        assert stub[fname] == doc, f"{name}.{fname}: stub {stub[fname]} != module {doc}"


def test_binding_source_reader_agrees_with_the_built_cpu_module():
    # The reader that checks _cuda.pyi below, checked where the module is at hand.
    assert _bindings_from_source("cpu") == _module_functions(_cpu)


def test_cuda_stub_names_and_parameters_equal_the_bindings():
    stub = _stub("_cuda")
    source = _bindings_from_source("cuda")
    assert set(stub) == set(source), (
        f"missing from _cuda.pyi: {sorted(set(source) - set(stub))}; "
        f"in _cuda.pyi but not bound: {sorted(set(stub) - set(source))}")
    for name, params in source.items():
        assert stub[name] == params, f"_cuda.{name}: stub {stub[name]} != binding {params}"
    try:  # the module imports without a GPU (it reports no device); absent in CPU-only builds
        from loomgrad import _cuda
    except ImportError:
        return
    assert _module_functions(_cuda) == source
    assert set(_cuda.build_info()) == _typed_dict_keys("_cuda", "_BuildInfo")


# ------------------------------------------------------------------ annotations, docstrings
def test_every_kernels_function_has_a_return_annotation():
    kernels = pathlib.Path(lg.kernels.__file__).parent
    missing = []
    for path in sorted(kernels.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and not node.name.startswith("_") and node.returns is None):
                missing.append(f"{path.relative_to(kernels.parent)}:{node.lineno} {node.name}")
    assert not missing, "no return annotation: " + ", ".join(missing)
    # and through the any_array decorator, which keeps the signature it wraps
    assert inspect.signature(lg.kernels.conv2d).return_annotation is not inspect.Signature.empty


def test_module_call_has_a_return_annotation():
    assert "return" in lg.nn.Module.__call__.__annotations__


def test_every_public_tensor_method_has_a_docstring():
    missing = []
    for cls in lg.Tensor.__mro__:
        if not cls.__module__.startswith("loomgrad"):
            continue
        for name, attr in vars(cls).items():
            if name.startswith("_"):
                continue
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            if not (callable(attr) or isinstance(attr, property)):
                continue
            if not (attr.__doc__ or "").strip():
                missing.append(f"{cls.__name__}.{name}")
    assert not missing, "no docstring: " + ", ".join(sorted(missing))


# ------------------------------------------------------------------ a type checker's view
GOOD_SCRIPT = """
import numpy as np
import loomgrad as lg
from loomgrad import _cpu

info = _cpu.build_info()
threads: int = info["num_threads"] + info["caches"]["l2"]
isa: str = info["gemm_isa"]
a = np.ones((2, 3), np.float32)
out = np.empty((2, 2), np.float32)
_cpu.gemm(a, a, out, trans_b=True, alpha=2.0)
packed = _cpu.pack_gemm_b(a, trans_b=True)
k, n = packed.shape
shape: tuple[int, int, int, int] = _cpu.conv2d_output_shape(
    (1, 1, 5, 5), (2, 1, 3, 3), (1, 1), (0, 0), (1, 1), 1)
model = lg.nn.Sequential(lg.nn.Linear(3, 4), lg.nn.ReLU(), lg.nn.Linear(4, 2))
y = model(lg.tensor(a))
y.sum().backward()
z = lg.kernels.gemm(a, a.T)
"""

BAD_SCRIPT = """
from loomgrad import _cpu, kernels
n: str = _cpu.get_num_threads()
_cpu.set_num_threads("four")
_cpu.build_info()["no_such_key"]
_cpu.gemm(1.0, 2.0)
h, c = kernels.lstm_cell(0, 0, 0, 0, 0)
"""


def _mypy(tmp_path, source: str) -> subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context",
         "--cache-dir", str(tmp_path / ".mypy_cache"), "--python-executable", sys.executable,
         str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_mypy_checks_a_user_script_against_the_installed_package(tmp_path):
    pytest.importorskip("mypy")
    good = _mypy(tmp_path, GOOD_SCRIPT)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _mypy(tmp_path, BAD_SCRIPT)
    lines = sorted({int(m.group(1)) for m in re.finditer(r"user_script\.py:(\d+): error",
                                                         bad.stdout)})
    # line 7: lstm_cell returns (h, c, saved), seen through the any_array decorator
    assert lines == [3, 4, 5, 6, 7], bad.stdout + bad.stderr

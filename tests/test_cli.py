"""`python -m loomgrad info|bench|train` and the package-level controls."""
import subprocess
import sys

import pytest

import loomgrad as lg
from loomgrad.cli import _bench_names


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "loomgrad", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_info_reports_build():
    r = run_cli("info")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"loomgrad {lg.__version__}" in out
    assert "GEMM microkernel path: " + lg._cpu.build_info()["gemm_isa"] in out
    assert "CPU threads:" in out and "OpenMP" in out
    assert "CUDA available:" in out
    if not lg.cuda.is_available():
        assert lg.cuda.unavailable_reason() in out


def test_info_respects_omp_num_threads():
    r = subprocess.run([sys.executable, "-m", "loomgrad", "info"], capture_output=True,
                       text=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert "CPU threads: 1 " in r.stdout


def test_bench_lists_every_benchmark():
    assert {"gemm", "conv", "pool", "xent"} <= set(_bench_names())
    r = run_cli("bench", "nosuch")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_unknown_command_is_a_usage_error():
    r = run_cli("frobnicate")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


def test_set_num_threads_roundtrip_and_errors():
    before = lg.get_num_threads()
    try:
        lg.set_num_threads(1)
        assert lg.get_num_threads() == 1
        with pytest.raises(ValueError, match="n must be >= 1"):
            lg.set_num_threads(0)
        with pytest.raises(TypeError, match="n must be an int"):
            lg.set_num_threads(1.5)
        with pytest.raises(TypeError, match="n must be an int"):
            lg.set_num_threads(True)
    finally:
        lg.set_num_threads(before)


@pytest.mark.parametrize("name", _bench_names())
def test_bench_quick_smoke(name):
    """Every benchmark runs end to end through the CLI (timings are not checked)."""
    r = run_cli("bench", name, "--quick", timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "geometric-mean" in r.stdout

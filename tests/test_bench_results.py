"""The measured machine figures (FMA peak, STREAM bandwidth) and their cache,
and the bench results tools every bench shares: --json, --plot, and
`bench compare A.json B.json`."""
import json
import os
import subprocess
import sys

import pytest

import loomgrad as lg
from loomgrad.benchmarks import _machine, _results, harness


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOMGRAD_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_fma_peak_is_positive_and_stable():
    # Two short measurements of one thread agree well enough to print (a
    # noisy neighbour on a shared machine may take a share; not 2x).
    runs = [lg._cpu.measure_fma_peak("float32", 1, 0.2, 0.05) for _ in range(2)]
    assert all(r > 0 and r == r for r in runs)
    assert max(runs) / min(runs) < 2.0, runs
    f64 = lg._cpu.measure_fma_peak("float64", 1, 0.2, 0.05)
    assert 0 < f64 < 1.5 * max(runs)  # half the lanes: never faster than float32


def test_stream_bandwidth_is_positive():
    bw = lg._cpu.measure_stream_bandwidth(1, 32 << 20, 2)
    assert bw["copy_gbs"] > 0 and bw["triad_gbs"] > 0
    assert bw["bytes_per_array"] == 32 << 20


def test_probe_arguments_are_checked():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        lg._cpu.measure_fma_peak("int8", 1, 0.1, 0.0)
    with pytest.raises(ValueError, match="threads >= 1"):
        lg._cpu.measure_fma_peak("float32", 0, 0.1, 0.0)
    with pytest.raises(ValueError, match="threads >= 1"):
        lg._cpu.measure_stream_bandwidth(0, 1 << 20, 1)


def test_figures_are_cached_per_machine(cache_dir, monkeypatch):
    monkeypatch.setattr(_machine, "PEAK_SECONDS", 0.1)
    monkeypatch.setattr(_machine, "PEAK_WARMUP", 0.0)
    monkeypatch.setattr(_machine, "PEAK_TRIES", 1)
    monkeypatch.setattr(_machine, "STREAM_REPS", 1)
    first = _machine.figures(1)
    assert set(first["source"].values()) == {"measured now"}
    assert (cache_dir / "machine.json").exists()
    data = json.loads((cache_dir / "machine.json").read_text())
    key = _machine.machine_key(1)
    assert lg._cpu.build_info()["gemm_isa"] in key and "1 threads" in key
    assert data[key]["fma_peak_gflops_float32"] == first["fma_peak_gflops"]["float32"]
    again = _machine.figures(1)
    assert set(again["source"].values()) == {"cached"}
    assert again["fma_peak_gflops"] == first["fma_peak_gflops"]
    assert again["stream"] == first["stream"]
    assert set(_machine.figures(1, refresh=True)["source"].values()) == {"measured now"}


def test_info_prints_measured_figures(cache_dir):
    env = {**os.environ, "LOOMGRAD_CACHE_DIR": str(cache_dir)}
    r = subprocess.run([sys.executable, "-m", "loomgrad", "info"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "measured FMA peak" in r.stdout and "GFLOP/s float32" in r.stdout
    assert "measured STREAM bandwidth" in r.stdout and "copy" in r.stdout
    assert str(cache_dir) in r.stdout


def _rows():
    return [harness.Row("a", 2e9, {"ours": 0.01, "them": 0.02}),
            harness.Row("b", 4e9, {"ours": 0.04, "them": 0.02})]


def test_json_and_compare(tmp_path, capsys):
    rec = _results.table_record(_rows(), "ours", ["them"], "GF/s", 500.0, "of the peak",
                                "t1", {"them": 1.0})
    assert rec["rows"][0]["rate"] == {"ours": 200.0, "them": 100.0}
    assert rec["rows"][0]["ratio"] == {"them": 2.0}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _results.write_json(str(a), "demo", [], {"cpu": "X"}, [rec])
    faster = json.loads(json.dumps(rec))
    faster["rows"][1]["rate"]["ours"] *= 2
    _results.write_json(str(b), "demo", [], {"cpu": "Y"}, [faster])
    r = subprocess.run([sys.executable, "-m", "loomgrad", "bench", "compare", str(a), str(b)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    row_b = next(line for line in lines if line.startswith("b "))
    assert "2.000" in row_b                            # B/A of our rate on row b
    assert "geometric-mean change of ours B/A: 1.414" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = subprocess.run([sys.executable, "-m", "loomgrad", "bench", "compare", str(a), str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not a loomgrad bench JSON" in r.stderr


def test_bench_json_from_the_cli(tmp_path):
    out = tmp_path / "pool.json"
    r = subprocess.run([sys.executable, "-m", "loomgrad", "bench", "pool", "--quick",
                        "--no-torch", "--reps", "1", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["format"] == _results.FORMAT and doc["bench"] == "pool"
    assert doc["machine"]["gemm_isa"] == lg._cpu.build_info()["gemm_isa"]
    assert doc["machine"]["copy_gbs"] > 0 and doc["machine"]["peak_gflops"] > 0
    assert [t["title"] for t in doc["tables"]] == ["forward", "forward + backward"]
    assert all(row["rate"]["loomgrad"] > 0 for t in doc["tables"] for row in t["rows"])
    assert "% peak: of the measured STREAM copy bandwidth" in r.stdout


def test_plot(tmp_path):
    path = tmp_path / "p.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(SystemExit, match=r"loomgrad\[plot\]"):
            _results.write_plot(str(path), "t", [])
        return
    rec = _results.table_record(_rows(), "ours", ["them"], "GF/s", 500.0, "peak", "t1", {})
    _results.write_plot(str(path), "t", [rec])
    assert path.stat().st_size > 0

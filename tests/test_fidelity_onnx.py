"""Issue 14: lg.onnx.export, checked by running the file in onnxruntime against our own
forward pass (skipped when the optional onnx/onnxruntime packages are absent)."""
import io

import numpy as np
import pytest

import loomgrad as lg

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _run(model, x, rtol=1e-5, atol=1e-5):
    buf = io.BytesIO()
    lg.onnx.export(model, x, buf)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    got = sess.run(["output"], {"input": x.numpy()})[0]
    model.eval()
    with lg.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return buf


class Custom(lg.nn.Module):
    """A forward with plain tensor maths between layers."""

    def __init__(self):
        super().__init__()
        self.fc1 = lg.nn.Linear(12, 16)
        self.fc2 = lg.nn.Linear(16, 4)

    def forward(self, x):
        h = self.fc1(x.reshape(x.shape[0], -1))
        h = h.tanh() * 0.5 + h.sigmoid() - h.clamp(-1, 1) / 3
        h = lg.cat([h[:, :8].exp(), h[:, 8:].abs().sqrt()], dim=1)
        return self.fc2(h).log_softmax(dim=1) + h.mean(dim=1, keepdim=True)


def test_mlp_and_custom_forward():
    lg.manual_seed(0)
    mlp = lg.nn.Sequential(lg.nn.Linear(64, 32), lg.nn.ReLU(), lg.nn.Dropout(0.5),
                           lg.nn.Linear(32, 10), lg.nn.Softmax(dim=1))
    _run(mlp, lg.randn(5, 64))
    _run(Custom(), lg.randn(3, 3, 4))


def test_cnn_with_batchnorm_and_pools():
    lg.manual_seed(1)
    cnn = lg.nn.Sequential(
        lg.nn.Conv2d(1, 6, 3, padding=1), lg.nn.BatchNorm2d(6), lg.nn.ReLU(),
        lg.nn.MaxPool2d(2), lg.nn.Conv2d(6, 8, 3, stride=1, padding="same"), lg.nn.Tanh(),
        lg.nn.AvgPool2d(2), lg.nn.AdaptiveAvgPool2d(1), lg.nn.Flatten(), lg.nn.Linear(8, 3))
    x = lg.randn(4, 1, 8, 8)
    cnn.train()
    cnn(x)  # running statistics move away from (0, 1)
    buf = _run(cnn, x, rtol=1e-4, atol=1e-5)
    proto = onnx.load_from_string(buf.getvalue())
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm"} <= ops
    names = {i.name for i in proto.graph.initializer}
    assert "0.weight" in names and "1.weight" in names  # batch-norm statistics: constants
    assert cnn.training is False  # _run put it in eval; export itself restores the mode
    cnn.train()
    lg.onnx.export(cnn, x, io.BytesIO())
    assert cnn.training


def test_embedding_model_takes_integer_input():
    lg.manual_seed(2)
    model = lg.nn.Sequential(lg.nn.Embedding(20, 6), lg.nn.Flatten(), lg.nn.Linear(18, 2))
    _run(model, lg.randint(0, 20, (4, 3)))


def test_file_path_and_unsupported_ops(tmp_path):
    model = lg.nn.Sequential(lg.nn.Linear(4, 2))
    lg.onnx.export(model, lg.randn(1, 4), tmp_path / "m.onnx")
    onnx.checker.check_model(str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="_LSTMSequence|LSTM"):
        lg.onnx.export(_LastStep(), lg.randn(2, 3, 4), io.BytesIO())


class _LastStep(lg.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = lg.nn.LSTM(4, 5, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


class _Thresholded(lg.nn.Module):
    def forward(self, x):
        return x * (x > 0).float()  # the mask is computed outside autograd


def test_input_dependent_constants_are_refused():
    with pytest.raises(ValueError, match="depends on the input"):
        lg.onnx.export(_Thresholded(), lg.randn(3, 4), io.BytesIO())

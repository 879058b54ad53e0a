"""History.plot / lg.plot under Agg, and TensorBoard event files read back with tensorboard's
own reader."""
import numpy as np
import pytest

import loomgrad as lg
from loomgrad import callbacks as C

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fitted():
    X, y = lg.data.load_digits_arrays("train", flatten=True)
    lg.manual_seed(0)
    model = lg.models.mlp(64, (16,), 10)
    model.compile("adam", metrics=["accuracy", "f1"], lr=3e-3)
    h = model.fit(X[:400], y[:400], epochs=3, validation_split=0.25, verbose=0)
    return model, h, X[:400], y[:400]


def test_history_plot_has_a_train_and_validation_line_per_quantity(fitted, tmp_path):
    _, h, _, _ = fitted
    fig = h.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy", "f1"]
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2
        assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
        np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(), h.history["val_loss"])


def test_confusion_matrix_plot(fitted, tmp_path):
    model, _, X, y = fitted
    fig = lg.plot.confusion_matrix(y, model.predict(X), path=tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 1000
    ax = fig.axes[0]
    cm = lg.metrics.confusion_matrix(y, model.predict(X))
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), cm)
    assert len(ax.texts) == cm.size and ax.texts[0].get_text() == str(cm[0, 0])


def test_summary_writer_and_callback_read_back(fitted, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with lg.utils.tensorboard.SummaryWriter(tmp_path / "w") as w:
        for step in range(3):
            w.add_scalar("a/b", 0.5 * step, step)
        w.add_histogram("h", np.arange(100.0), 1)
        w.add_image("img", np.linspace(0, 1, 3 * 4 * 5).reshape(3, 4, 5), 2)
        w.add_text("note", "hello", 0)
        w.add_scalars("pair", {"x": 1.0, "y": 2.0}, 4)
    acc = EventAccumulator(str(tmp_path / "w"), size_guidance={"tensors": 0}).Reload()
    assert [(e.step, e.value) for e in acc.Scalars("a/b")] == [(0, 0.0), (1, 0.5), (2, 1.0)]
    hist = acc.Histograms("h")[0].histogram_value
    assert (hist.num, hist.min, hist.max, hist.sum) == (100, 0.0, 99.0, 4950.0)
    img = acc.Images("img")[0]
    assert (img.width, img.height) == (5, 4) and img.encoded_image_string[:4] == b"\x89PNG"
    text = acc.Tensors("note/text_summary")[0].tensor_proto.string_val[0]
    assert text == b"hello"
    sub = EventAccumulator(str(tmp_path / "w" / "pair_x")).Reload()
    assert sub.Scalars("pair")[0].value == 1.0

    model, _, X, y = fitted
    model.fit(X, y, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[C.TensorBoard(tmp_path / "run", histogram_freq=1,
                                       histogram_inputs=X[:50])])
    acc = EventAccumulator(str(tmp_path / "run")).Reload()
    tags = acc.Tags()
    assert {"loss/train", "loss/validation", "accuracy/train", "accuracy/validation"} <= \
        set(tags["scalars"])
    assert [e.step for e in acc.Scalars("loss/validation")] == [1, 2]
    assert set(dict(model.named_parameters())) | {"outputs"} <= set(tags["histograms"])
    assert model.history.history["val_loss"] == \
        pytest.approx([e.value for e in acc.Scalars("loss/validation")], rel=1e-6)

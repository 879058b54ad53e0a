"""lg.utils.tensorboard.SummaryWriter: torch.utils.tensorboard's writer, on the ``tensorboard``
package's own event-file writer and protobufs (the ``tensorboard`` extra: ``pip install
'loomgrad[tensorboard]'``); nothing of the file format is written here.

    writer = lg.utils.tensorboard.SummaryWriter("runs/mlp")
    writer.add_scalar("loss/train", 0.25, global_step=1)
    writer.close()
    # tensorboard --logdir runs
"""
from __future__ import annotations

import os
import socket
import struct
import time
import zlib
from datetime import datetime

import numpy as np

__all__ = ["SummaryWriter"]


def _tensorboard():
    """The tensorboard pieces we use, imported on first use (an optional dependency)."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, \
            tensor_shape_pb2
        from tensorboard.plugins.text import metadata as text_metadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise ImportError("lg.utils.tensorboard needs the tensorboard package: "
                          "pip install 'loomgrad[tensorboard]' (or pip install tensorboard)") \
            from e
    return dict(Event=event_pb2.Event, Summary=summary_pb2.Summary,
                HistogramProto=summary_pb2.HistogramProto, TensorProto=tensor_pb2.TensorProto,
                TensorShapeProto=tensor_shape_pb2.TensorShapeProto,
                text_metadata=text_metadata.create_summary_metadata,
                EventFileWriter=EventFileWriter)


def _array(values, what: str) -> np.ndarray:
    v = getattr(values, "data", values)
    if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor, without importing torch
        v = v.detach().cpu().numpy()
    if hasattr(v, "get") and hasattr(v, "__cuda_array_interface__"):
        v = v.get()
    try:
        return np.asarray(v)
    except Exception as e:  # noqa: BLE001
        raise TypeError(f"SummaryWriter.{what}: expected an array or Tensor, got "
                        f"{type(values).__name__}") from e


def _png(image: np.ndarray) -> bytes:
    """Encode an (H, W, C) uint8 image, C in 1, 3, 4, as PNG (zlib, no filter)."""
    h, w, c = image.shape
    color = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class SummaryWriter:
    """Write TensorBoard event files to ``log_dir`` (default ``runs/<date>_<host><comment>``),
    with torch's method names and arguments. ``global_step`` defaults to 0; ``walltime`` to
    now."""

    def __init__(self, log_dir=None, comment: str = "", purge_step=None, max_queue: int = 10,
                 flush_secs: int = 120, filename_suffix: str = ""):
        self._tb = _tensorboard()
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self._options = dict(max_queue_size=max_queue, flush_secs=flush_secs,
                             filename_suffix=filename_suffix)
        self._writer = self._tb["EventFileWriter"](self.log_dir, **self._options)
        self._children: dict[str, object] = {}  # add_scalars' per-series writers

    def get_logdir(self) -> str:
        return self.log_dir

    def _event(self, value, global_step, walltime) -> None:
        if self._writer is None:
            raise RuntimeError("SummaryWriter: the writer is closed")
        ev = self._tb["Event"](summary=self._tb["Summary"](value=[value]),
                               wall_time=time.time() if walltime is None else float(walltime),
                               step=0 if global_step is None else int(global_step))
        self._writer.add_event(ev)

    def add_scalar(self, tag: str, scalar_value, global_step=None, walltime=None) -> None:
        """One value of the series ``tag`` at ``global_step``."""
        v = _array(scalar_value, "add_scalar")
        if v.size != 1:
            raise ValueError(f"SummaryWriter.add_scalar: scalar_value must hold one value, got "
                             f"shape {v.shape}")
        self._event(self._tb["Summary"].Value(tag=tag, simple_value=float(v.reshape(()))),
                    global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step=None,
                    walltime=None) -> None:
        """Several series in one chart: each key goes to its own run directory
        ``log_dir/<main_tag>_<key>`` under the tag ``main_tag`` (as torch does)."""
        for key, value in tag_scalar_dict.items():
            run = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{key}")
            if run not in self._children:
                self._children[run] = SummaryWriter(run, **{
                    "max_queue": self._options["max_queue_size"],
                    "flush_secs": self._options["flush_secs"],
                    "filename_suffix": self._options["filename_suffix"]})
            self._children[run].add_scalar(main_tag, value, global_step, walltime)

    def add_histogram(self, tag: str, values, global_step=None, bins="auto",
                      walltime=None) -> None:
        """A histogram of ``values`` (any shape; NaN/inf refused), ``bins`` as numpy.histogram
        takes them."""
        v = _array(values, "add_histogram").astype(np.float64).reshape(-1)
        if v.size == 0:
            raise ValueError("SummaryWriter.add_histogram: values is empty")
        if not np.isfinite(v).all():
            raise ValueError("SummaryWriter.add_histogram: values hold NaN or inf")
        counts, edges = np.histogram(v, bins=bins)
        hist = self._tb["HistogramProto"](min=float(v.min()), max=float(v.max()),
                                          num=int(v.size), sum=float(v.sum()),
                                          sum_squares=float(np.dot(v, v)),
                                          bucket_limit=edges[1:].tolist(),
                                          bucket=counts.astype(np.float64).tolist())
        self._event(self._tb["Summary"].Value(tag=tag, histo=hist), global_step, walltime)

    def add_image(self, tag: str, img_tensor, global_step=None, walltime=None,
                  dataformats: str = "CHW") -> None:
        """An image: float values in [0, 1] (scaled to 0..255) or uint8; ``dataformats``
        "CHW", "HWC" or "HW"; 1, 3 or 4 channels."""
        img = _array(img_tensor, "add_image")
        if dataformats not in ("CHW", "HWC", "HW"):
            raise ValueError(f"SummaryWriter.add_image: dataformats must be 'CHW', 'HWC' or "
                             f"'HW', got {dataformats!r}")
        if img.ndim != len(dataformats):
            raise ValueError(f"SummaryWriter.add_image: dataformats {dataformats!r} needs a "
                             f"{len(dataformats)}-D image, got shape {img.shape}")
        img = img[:, :, None] if dataformats == "HW" else \
            img.transpose(1, 2, 0) if dataformats == "CHW" else img
        if img.shape[2] not in (1, 3, 4):
            raise ValueError(f"SummaryWriter.add_image: 1, 3 or 4 channels, got {img.shape[2]}")
        if img.dtype != np.uint8:
            img = (np.clip(img.astype(np.float64), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        h, w, c = img.shape
        image = self._tb["Summary"].Image(height=h, width=w, colorspace=c,
                                          encoded_image_string=_png(np.ascontiguousarray(img)))
        self._event(self._tb["Summary"].Value(tag=tag, image=image), global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step=None, walltime=None) -> None:
        """Text (markdown) under ``tag`` + "/text_summary", as torch writes it."""
        if not isinstance(text_string, str):
            raise TypeError(f"SummaryWriter.add_text: text_string must be a str, got "
                            f"{type(text_string).__name__}")
        tb = self._tb
        tensor = tb["TensorProto"](dtype="DT_STRING", string_val=[text_string.encode("utf-8")],
                                   tensor_shape=tb["TensorShapeProto"](
                                       dim=[tb["TensorShapeProto"].Dim(size=1)]))
        value = tb["Summary"].Value(tag=tag + "/text_summary", tensor=tensor,
                                    metadata=tb["text_metadata"](tag, ""))
        self._event(value, global_step, walltime)

    def flush(self) -> None:
        """Write pending events to disk."""
        for child in self._children.values():
            child.flush()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event files (idempotent)."""
        for child in self._children.values():
            child.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

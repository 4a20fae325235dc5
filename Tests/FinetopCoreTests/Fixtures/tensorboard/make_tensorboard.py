"""Writes the TensorBoard fixtures with the real libraries (run from the repository root):

    .venv/bin/pip install tensorboard tensorboardX     # neither pulls in TensorFlow
    .venv/bin/python Tests/FinetopCoreTests/Fixtures/tensorboard/make_tensorboard.py
    .venv/bin/python …/make_tensorboard.py --keras DIR     # only the Keras logdir, into DIR

- keras/: real Keras 3 (JAX backend) training with the real `keras.callbacks.TensorBoard`
  (update_freq=5: 15 training and 5 validation batches per epoch. With a batch count it does not
  divide, the callback drops epoch summaries, because its record_if(step % update_freq == 0) from
  the last batch is still in force at epoch end; real tf.summary behaves the same).
  That callback does `import tensorflow.summary`; TensorFlow is a multi-GB install, so a stand-in module with the same few calls (create_file_writer, as_default, scalar,
  record_if) is put in sys.modules, writing through TensorBoard's own `tensorboard.summary.Writer`
  (a rank-0 DT_FLOAT tensor per scalar, scalars plugin metadata: what tf.summary.scalar writes).
  The layout, tags and steps are the callback's own: train/ and validation/, epoch_loss,
  epoch_accuracy, epoch_learning_rate, batch_loss, evaluation_loss_vs_iterations.
- pytorch/: tensorboardX's SummaryWriter (the API of torch.utils.tensorboard; simple_value
  scalars): `Loss/train` and `grad_norm` per iteration, `Loss/val`, `Accuracy/val`,
  `Accuracy/train` and `learning_rate` per epoch at the global step; the job is killed after
  epoch 3 and resumed from the epoch-2 checkpoint by a second writer (a second event file),
  so steps of epoch 3 are written twice.
- pytorch_epochs/: the PyTorch tutorial's style, `add_scalar("Loss/train", loss, epoch)` and
  `Loss/test`, with `add_scalars` writing `Accuracy/train/` and `Accuracy/test/` subdirectories
  (tensorboardX; torch.utils.tensorboard names them `Accuracy_train/`, `Accuracy_test/`).
- tensor_content/events.out.tfevents.*: scalars as TF2's C++ summary kernels write them
  (`Tensor::AsProtoTensorContent`: little-endian bytes in tensor_content, DT_FLOAT and
  DT_DOUBLE), built with TensorBoard's vendored protos and written with its RecordWriter.

Event file names carry a fixed time and host instead of this machine's.
"""
import contextlib, glob, os, shutil, sys, types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("KERAS_BACKEND", "jax")


def rename_event_files(root, start=1763900000):
    """Fixed names, in the order the files were created (TensorBoard sorts by name)."""
    for n, path in enumerate(sorted(glob.glob(os.path.join(root, "**", "events.out.tfevents.*"), recursive=True),
                                    key=os.path.getmtime)):
        suffix = ".v2" if path.endswith(".v2") else ""   # the writers' own suffixes (.1, .2) go
        os.rename(path, os.path.join(os.path.dirname(path), f"events.out.tfevents.{start + n}.finetop.4242.0{suffix}"))


# --- keras/ -------------------------------------------------------------------------------------

def tf_summary_stand_in():
    """The part of tf.summary that keras.callbacks.TensorBoard calls, over tensorboard's Writer."""
    from tensorboard.compat import tf as tb_tf
    from tensorboard.summary import Writer

    tb_tf.io   # resolve TensorBoard's lazy `tf` to its own stub before a `tensorflow` module exists

    mod = types.ModuleType("tensorflow.summary")
    state = {"writer": [], "step": [], "record": []}

    class FileWriter:
        def __init__(self, logdir):
            self._writer = Writer(logdir)

        @contextlib.contextmanager
        def as_default(self, step=None):
            state["writer"].append(self._writer)
            state["step"].append(step)
            try:
                yield self
            finally:
                state["writer"].pop()
                state["step"].pop()

        def flush(self):
            self._writer.flush()

        def close(self):
            self._writer.close()

    @contextlib.contextmanager
    def record_if(condition):
        state["record"].append(condition)
        try:
            yield
        finally:
            state["record"].pop()

    def scalar(name, data, step=None, description=None):
        if not state["writer"]:
            return False
        if state["record"]:
            cond = state["record"][-1]
            if not (cond() if callable(cond) else cond):
                return False
        if step is None:
            step = state["step"][-1]
        state["writer"][-1].add_scalar(name, float(np.asarray(data)), int(np.asarray(step)))
        return True

    mod.create_file_writer = FileWriter
    mod.record_if = record_if
    mod.scalar = scalar
    tf = types.ModuleType("tensorflow")
    tf.summary = mod
    sys.modules["tensorflow"] = tf
    sys.modules["tensorflow.summary"] = mod


def keras_logs(out=os.path.join(HERE, "keras")):
    import keras
    from sklearn.datasets import load_digits

    shutil.rmtree(out, ignore_errors=True)
    keras.utils.set_random_seed(7)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    tf_summary_stand_in()   # only now: Keras uses a present `tensorflow` module for more than summaries
    tb = keras.callbacks.TensorBoard(log_dir=out, update_freq=5, write_graph=False, profile_batch=0)
    model.fit(x[:600], y[:600], validation_split=0.25, epochs=6, batch_size=32, verbose=0, callbacks=[tb])
    rename_event_files(out)


# --- pytorch/ and pytorch_epochs/ ---------------------------------------------------------------

def pytorch_logs():
    from tensorboardX import SummaryWriter

    out = os.path.join(HERE, "pytorch")
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(3)
    iters = 25

    def train(writer, epochs, lr0=0.01):
        for epoch in epochs:
            for i in range(iters):
                step = epoch * iters + i + 1
                loss = 2.3 * np.exp(-step / 60) + 0.2 + rng.normal(0, 0.03)
                writer.add_scalar("Loss/train", loss, step)
                writer.add_scalar("grad_norm", 1.5 * np.exp(-step / 90) + rng.uniform(0, 0.2), step)
            step = (epoch + 1) * iters
            writer.add_scalar("Loss/val", 2.3 * np.exp(-step / 60) + 0.3 + 0.02 * max(0, epoch - 3), step)
            writer.add_scalar("Accuracy/train", 1 - np.exp(-step / 50) * 0.9, step)
            writer.add_scalar("Accuracy/val", 1 - np.exp(-step / 50) * 0.9 - 0.05, step)
            writer.add_scalar("learning_rate", lr0 * 0.8 ** epoch, step)
            writer.flush()

    first = SummaryWriter(out, filename_suffix=".1")
    train(first, range(0, 4))      # epochs 0..3, then the job dies
    first.close()
    second = SummaryWriter(out, filename_suffix=".2")    # resumed from the checkpoint after epoch 2
    train(second, range(3, 6))
    second.close()
    rename_event_files(out)


def pytorch_epoch_logs():
    from tensorboardX import SummaryWriter

    out = os.path.join(HERE, "pytorch_epochs")
    shutil.rmtree(out, ignore_errors=True)
    writer = SummaryWriter(out)
    for epoch in range(8):
        writer.add_scalar("Loss/train", 1.8 * np.exp(-epoch / 2) + 0.1, epoch)
        writer.add_scalar("Loss/test", 1.8 * np.exp(-epoch / 2) + 0.25 + 0.04 * max(0, epoch - 4), epoch)
        writer.add_scalars("Accuracy", {"train": 0.6 + 0.05 * epoch, "test": 0.55 + 0.04 * epoch}, epoch)
    writer.close()
    rename_event_files(out)


# --- tensor_content/ ----------------------------------------------------------------------------

def tensor_content_logs():
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    out = os.path.join(HERE, "tensor_content")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    path = os.path.join(out, "events.out.tfevents.1763900000.finetop.4242.0.v2")
    with open(path, "wb") as f:
        w = RecordWriter(f)
        w.write(event_pb2.Event(wall_time=1763900000.0, file_version="brain.Event:2").SerializeToString())
        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
            data_class=summary_pb2.DataClass.DATA_CLASS_SCALAR)
        for epoch in range(5):
            ev = event_pb2.Event(wall_time=1763900001.0 + epoch, step=epoch)
            ev.summary.value.add(tag="epoch_loss", metadata=meta, tensor=tensor_pb2.TensorProto(
                dtype=types_pb2.DT_FLOAT, tensor_content=np.float32(1.0 / (epoch + 1)).tobytes()))
            ev.summary.value.add(tag="epoch_mae", metadata=meta, tensor=tensor_pb2.TensorProto(
                dtype=types_pb2.DT_DOUBLE, tensor_content=np.float64(0.5 + epoch / 100).tobytes()))
            w.write(ev.SerializeToString())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--keras"]:   # only the Keras logdir, into the directory given (a test's)
        keras_logs(sys.argv[2])
        sys.exit(0)
    tensor_content_logs()
    pytorch_logs()
    pytorch_epoch_logs()
    keras_logs()

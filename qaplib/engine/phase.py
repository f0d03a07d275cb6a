"""One training phase of many models at once: :func:`train_phase_batched`, the batched ``qaplib.train.fit``.

Each member keeps the semantics of ``fit`` (fresh Adam, mean cross-entropy + L1, masks re-applied after
every step, early stopping on its own ``val_loss`` with its own patience and ``max_epochs``, best
weights restored); the members only share the architecture and the batch size.

How the work is laid out (members are independent, so any layout gives the same per-member math):

* the state of all M members lives on the host, one packed row per member (weights, Adam moments);
* each epoch, the members still training are cut into chunks of ``chunk_size``; one XLA call
  (:func:`qaplib.engine.graph.epoch_function`) runs a chunk's whole epoch (every step, then validation),
  member by member with plain 2D products (:mod:`qaplib.engine.backprop`): no Python or host work
  between steps;
* up to ``threads`` chunks run concurrently. XLA executes on TensorFlow's intra-op thread pool, so this
  needs ``intra_op_parallelism_threads`` >= ``threads`` (and XLA then also splits work inside a call, at
  some cost in efficiency); with the single thread ``qaplib.runs.configure_tensorflow`` sets, use one
  process per core, each training its own batch;
* a member whose early stopping fired is left out of later chunks: it never moves again, and costs nothing.

On CPU the speed per sample and model hardly depends on the chunk size (``benchmarks/engine_throughput.py``
compares 2 with 32; larger chunks save a little host time per call but take longer to compile); small
chunks give every core work and waste little on a partly filled last chunk.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np

from qaplib.engine.graph import Architecture, epoch_function
from qaplib.engine.quantizers import QuantizerParameters
from qaplib.errors import InvalidSpecError
from qaplib.lifecycle import DEFAULT_CHUNK_SIZE, Member, TrainedMember
from qaplib.train import non_finite_loss

#: The data pool is padded to a multiple of this many rows, so that data sets of similar size share one
#: compiled program (XLA compiles once per input shape, several seconds each).
POOL_ROWS_BUCKET = 65_536


def check_batchable(members: list[Member]) -> Architecture:
    """The architecture shared by ``members``; raises InvalidSpecError naming what differs."""
    if not members:
        raise InvalidSpecError("a batched phase needs at least one member")
    arch = Architecture.of(members[0].spec)
    for k, member in enumerate(members):
        if Architecture.of(member.spec) != arch:
            raise InvalidSpecError(
                f"member {k} has widths/batchnorm {Architecture.of(member.spec)}, member 0 has {arch}; "
                "batch only models of the same architecture"
            )
        if member.settings.batch_size != members[0].settings.batch_size:
            raise InvalidSpecError(
                f"member {k} has batch_size {member.settings.batch_size}, member 0 has "
                f"{members[0].settings.batch_size}; batch only runs with the same batch size"
            )
        shapes = [w.shape for w in member.weights]
        expected = list(arch.weight_shapes)
        if shapes != expected:
            raise InvalidSpecError(f"member {k}: weight shapes {shapes} do not match build_model's {expected}")
    return arch


def quantized_inputs(x: np.ndarray, input_bits: int | None) -> np.ndarray:
    """``x`` as the model's first layer sees it: through QKeras ``quantized_bits(input_bits, 3)`` if set."""
    if input_bits is None:
        return x
    from qkeras import quantized_bits

    return np.asarray(quantized_bits(input_bits, 3, alpha=1)(x), dtype=np.float32)


@dataclass(frozen=True)
class DataPool:
    """Every member's training and validation rows in one array, so one gather serves any member.

    ``x`` (P, 16) float32 and ``y`` (P,) int32, P a multiple of POOL_ROWS_BUCKET (zero rows at the end);
    member k's training rows start at ``train_start[k]`` (``n_train[k]`` rows), its validation rows at
    ``val_start[k]`` (``n_val[k]`` rows).
    """

    x: np.ndarray
    y: np.ndarray
    train_start: np.ndarray
    n_train: np.ndarray
    val_start: np.ndarray
    n_val: np.ndarray

    @classmethod
    def of(cls, members: list[Member]) -> DataPool:
        """Pool the members' data; members sharing a JetData object and input quantizer share rows."""
        blocks_x, blocks_y, places, seen, size = [], [], [], {}, 0
        for member in members:
            key = (id(member.jets), member.spec.input_bits)
            if key not in seen:
                jets = member.jets
                train = quantized_inputs(jets.x_train, member.spec.input_bits)
                val = quantized_inputs(jets.x_val, member.spec.input_bits)
                seen[key] = (size, len(train), size + len(train), len(val))
                blocks_x += [train, val]
                blocks_y += [jets.y_train, jets.y_val]
                size += len(train) + len(val)
            places.append(seen[key])
        padding = -size % POOL_ROWS_BUCKET
        blocks_x.append(np.zeros((padding, blocks_x[0].shape[1]), dtype=np.float32))
        blocks_y.append(np.zeros(padding, dtype=np.int32))
        starts = np.array(places, dtype=np.int64).reshape(-1, 4)
        return cls(
            x=np.concatenate(blocks_x).astype(np.float32),
            y=np.concatenate(blocks_y).astype(np.int32),
            train_start=starts[:, 0],
            n_train=starts[:, 1],
            val_start=starts[:, 2],
            n_val=starts[:, 3],
        )


def epoch_batches(order: np.ndarray, start: int, batch_size: int, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras-style batches of one member's epoch, padded to ``steps`` full-width batches.

    ``order`` (n,) is the epoch's sample order; batch j holds ``order[j*B:(j+1)*B]`` (the last one shorter).
    Returns pool row indices (steps, B) int32, sample weights (steps, B) float32 (0 = padding) and
    active (steps,) bool (False for the steps after the member's last batch).
    """
    n = len(order)
    index = np.full(steps * batch_size, start, dtype=np.int64)
    index[:n] = start + order
    weight = np.zeros(steps * batch_size, dtype=np.float32)
    weight[:n] = 1.0
    active = np.arange(steps) < math.ceil(n / batch_size)
    return index.reshape(steps, batch_size).astype(np.int32), weight.reshape(steps, batch_size), active


@dataclass
class _EarlyStopping:
    """Keras ``EarlyStopping(monitor='val_loss', patience, restore_best_weights=True)`` for one member,
    with the best weights restored also when ``max_epochs`` is reached (as ``qaplib.train.fit`` does)."""

    patience: int
    max_epochs: int
    best: float = math.inf
    wait: int = 0
    best_weights: list[np.ndarray] | None = None
    finished: bool = False

    def update(self, epoch: int, val_loss: float, weights: list[np.ndarray]) -> None:
        """Keras's ``on_epoch_end`` logic, then the ``max_epochs`` check."""
        if self.best_weights is None:
            self.best_weights = weights
        self.wait += 1
        if val_loss < self.best:
            self.best, self.best_weights, self.wait = val_loss, weights, 0
        elif self.wait >= self.patience and epoch > 0:
            self.finished = True
        if epoch + 1 >= self.max_epochs:
            self.finished = True


def default_threads() -> int:
    """Concurrent chunks: TensorFlow's intra-op thread count (XLA runs there), all cores if unset (0)."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


def train_phase_batched(
    members: list[Member], shuffle: bool = True, chunk_size: int = DEFAULT_CHUNK_SIZE, threads: int | None = None
) -> list[TrainedMember]:
    """Train every member for one phase as ``qaplib.train.fit`` would; returns them in input order.

    Example:
        >>> trained = train_phase_batched([Member(spec, weights, masks, jets, settings, seed=k)
        ...                                for k, (weights, masks) in enumerate(starts)])  # doctest: +SKIP
        >>> build_model(spec).set_weights(trained[0].weights)  # doctest: +SKIP

    Args:
        members: models of one architecture and batch size (see :class:`Member`).
        shuffle: reshuffle each member's training rows every epoch (``fit(shuffle=True)``); False keeps the
            data order, batch j = rows [j*B, (j+1)*B), like ``fit(shuffle=False)``.
        chunk_size: members per compiled call (a positive integer). A member's result does not depend on
            which or how many members share its batch, as long as the chunk size is the same.
        threads: chunks trained concurrently; default :func:`default_threads`.
    """
    arch = check_batchable(members)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidSpecError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    runner = _ChunkRunner.start(arch, members)
    stoppers = [_EarlyStopping(m.settings.patience, m.settings.max_epochs) for m in members]
    histories = [{"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []} for _ in members]
    generators = [np.random.default_rng(m.seed) for m in members]
    diverged: list[str | None] = [None] * len(members)
    with ThreadPoolExecutor(max_workers=threads or default_threads()) as executor:
        epoch = 0
        while not all(s.finished for s in stoppers):
            training = [k for k, s in enumerate(stoppers) if not s.finished]
            plans = {k: runner.epoch_plan(k, generators[k].permutation if shuffle else np.arange) for k in training}
            chunks = [training[i : i + chunk_size] for i in range(0, len(training), chunk_size)]
            for rows, metrics in executor.map(functools.partial(runner.run, plans=plans, size=chunk_size), chunks):
                for j, k in enumerate(rows):
                    for key, values in zip(histories[k], metrics, strict=True):
                        histories[k][key].append(float(values[j]))
                    stoppers[k].update(epoch, histories[k]["val_loss"][-1], runner.state.member_weights(k))
                    diverged[k] = non_finite_loss(histories[k])
                    stoppers[k].finished |= diverged[k] is not None  # a diverged member stops at once
            epoch += 1
    return [TrainedMember(s.best_weights, h, len(h["loss"]), d) for s, h, d in zip(stoppers, histories, diverged, strict=True)]


@dataclass
class _ChunkRunner:
    """Everything a phase's compiled calls share: the stacked state, member constants, data and plans."""

    arch: Architecture
    state: _StackedState
    constants: np.ndarray
    pool: DataPool
    tensors: tuple
    batch_size: int
    steps: int
    val_plan: list[tuple[np.ndarray, np.ndarray]]

    @classmethod
    def start(cls, arch: Architecture, members: list[Member]) -> _ChunkRunner:
        import tensorflow as tf

        batch_size = members[0].settings.batch_size
        pool = DataPool.of(members)
        val_steps = max(math.ceil(n / batch_size) for n in pool.n_val)
        val_plan = [
            epoch_batches(np.arange(n), s, batch_size, val_steps)[:2] for s, n in zip(pool.val_start, pool.n_val, strict=True)
        ]
        return cls(arch=arch, state=_StackedState.start(arch, members), constants=_member_constants(members), pool=pool,
                   tensors=(tf.constant(pool.x), tf.constant(pool.y)), batch_size=batch_size,
                   steps=max(math.ceil(n / batch_size) for n in pool.n_train), val_plan=val_plan)  # fmt: skip

    def epoch_plan(self, k: int, order) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Member k's batches for one epoch; ``order(n)`` gives its sample order (a permutation or arange)."""
        n = int(self.pool.n_train[k])
        return epoch_batches(order(n), int(self.pool.train_start[k]), self.batch_size, self.steps)

    def run(self, rows: list[int], plans: dict[int, tuple], size: int) -> tuple[list[int], tuple]:
        """One epoch of the members ``rows`` (padded to ``size`` with an idle copy of the last one).

        Stores their new state and returns (rows, (loss, accuracy, val_loss, val_accuracy)), each (len(rows),).
        """
        padded = rows + [rows[-1]] * (size - len(rows))
        member_plans = [plans[k] for k in rows] + [_idle_plan(plans[rows[-1]])] * (size - len(rows))
        batch_index, batch_weight, active = (np.stack(parts, axis=1) for parts in zip(*member_plans, strict=True))
        val_plans = [self.val_plan[k] for k in rows] + [_idle_plan(self.val_plan[rows[-1]])] * (size - len(rows))
        val_index, val_weight = (np.stack(parts, axis=1) for parts in zip(*val_plans, strict=True))
        state, steps, masks = self.state.chunk(padded)
        outputs = epoch_function(self.arch, size, self.batch_size)(state, steps, masks, self.constants[padded], *self.tensors,
                                                  batch_index, batch_weight, active, val_index, val_weight)  # fmt: skip
        state, steps, *metrics = (t.numpy()[: len(rows)] for t in outputs)
        self.state.store(rows, state, steps)
        return rows, tuple(metrics)


def _idle_plan(plan: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """A padding member's training (index, weight, active) or validation (index, weight) plan: same
    shapes, every step inactive and every sample weight 0, so that the compiled epoch skips its work."""
    index, weight, *active = plan
    return index, np.zeros_like(weight), *(np.zeros_like(a) for a in active)


def _member_constants(members: list[Member]) -> np.ndarray:
    """(M, 9) float32: per member what ``graph.MemberConstants.from_columns`` reads."""
    q = QuantizerParameters.for_specs([m.spec for m in members])
    learning_rate = [m.settings.learning_rate for m in members]
    l1 = [m.spec.l1 for m in members]
    return np.stack([*(getattr(q, f.name) for f in fields(q)), learning_rate, l1], axis=1).astype(np.float32)


@dataclass
class _StackedState:
    """All members' training state, one row per member (as the epoch function takes it).

    ``packed`` (M, P): weights, then Adam's first and second moments, flattened
    (``Architecture.state_shapes``); ``masks`` (M, P_mask) the kernel masks; ``steps`` (M,) int32.
    """

    arch: Architecture
    packed: np.ndarray
    masks: np.ndarray
    steps: np.ndarray

    @classmethod
    def start(cls, arch: Architecture, members: list[Member]) -> _StackedState:
        """Fresh Adam state; kernels multiplied by their masks (as ``mask_callback`` does at train begin)."""
        masks = [np.stack([m.masks[layer] for m in members]).astype(np.float32) for layer in arch.kernel_layers]
        mask_of = dict(zip(arch.kernel_layers, masks, strict=True))
        weights = []
        for i, (layer, role) in enumerate(arch.weight_names):
            stacked = np.stack([np.asarray(m.weights[i], dtype=np.float32) for m in members])
            weights.append(stacked * mask_of[layer] if role == "kernel" else stacked)
        adam = [np.zeros_like(weights[i]) for i in arch.trainable]
        return cls(arch, _rows_of(weights + adam + adam), _rows_of(masks), np.zeros(len(members), dtype=np.int32))

    def chunk(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(state, steps, masks) of ``rows``."""
        return self.packed[rows], self.steps[rows], self.masks[rows]

    def store(self, rows: list[int], packed: np.ndarray, steps: np.ndarray) -> None:
        self.packed[rows] = packed
        self.steps[rows] = steps

    def member_weights(self, k: int) -> list[np.ndarray]:
        """Member k's weights, copied, in ``build_model(spec).get_weights()`` order."""
        weights, start = [], 0
        for shape in self.arch.weight_shapes:
            size = math.prod(shape)
            weights.append(self.packed[k, start : start + size].reshape(shape).copy())
            start += size
        return weights


def _rows_of(arrays: list[np.ndarray]) -> np.ndarray:
    """Arrays (M, ...) flattened per member and concatenated: (M, P) float32."""
    return np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=1).astype(np.float32)

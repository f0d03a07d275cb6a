"""The 16 -> 64 -> 32 -> 32 -> 5 jet tagger, as a float Keras or a QKeras model.

Layer names are stable (``fc1``..``fc4``, ``bn1``..``bn3``, ``relu1``..``relu3``, ``softmax``) so that
pruning, metrics and the firmware code can address layers by name.

Quantization (``bits`` < 32), chosen so that every value is a plain fixed-point number that hls4ml
can reproduce exactly:

* kernels and biases: ``quantized_bits(bits, integer=0, alpha=1)``, i.e. values in [-1, 1) with
  step 2**-(bits-1); with standardised inputs and Glorot initialisation weights stay well inside.
* hidden activations: ``quantized_relu(bits, integer=min(3, bits // 2))``: the clip reaches 4 at
  4 bits and 8 from 6 bits on, which covers batch-normalised pre-activations (about N(0, 1)).
* inputs, only when ``input_bits`` is set: ``quantized_bits(input_bits, integer=3)`` ([-8, 8)).
* batch normalisation stays float (as in the paper); the logits are not re-quantized.

The output is a softmax over the 5 classes. The paper's code applies ``Softmax(dim=0)``, over the
batch; that is a bug we do not copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from qaplib.validation import check_fields, check_value, rule

ALLOWED_BITS = (4, 6, 8, 12, 16, 32)
_ALLOWED_TEXT = "{" + ", ".join(map(str, ALLOWED_BITS)) + "}"

#: The rules of :class:`ModelSpec`'s fields (:mod:`qaplib.validation`); ``bits`` is the one rule for a bit width.
MODEL_RULES: dict[str, dict] = {
    "bits": rule({"type": "integer", "enum": list(ALLOWED_BITS)}, f"bits must be one of {_ALLOWED_TEXT}, got <value>",
                 "Bit width of the weights, biases and hidden activations; 32 is the float model."),
    "widths": rule({"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}},
                   "widths must be a non-empty tuple of positive integers, got <value>",
                   "Neurons of each hidden layer, input side first (the paper's tagger: 64, 32, 32)."),
    "batchnorm": rule({"type": "boolean"}, "batchnorm must be True or False, got <value>",
                      "Batch normalisation after each hidden Dense layer."),
    "l1": rule({"type": "number", "minimum": 0}, "l1 must be a non-negative, finite number, got <value>",
               "L1 regularisation factor of the Dense kernels."),
    "input_bits": rule({"anyOf": [{"type": "null"}, {"type": "integer", "enum": list(ALLOWED_BITS[:-1])}]},
                       f"input_bits must be None or one of {set(ALLOWED_BITS[:-1])}, got <value>",
                       "Bit width of the quantized inputs; null: float inputs (the paper's choice)."),
}  # fmt: skip


def check_bit_width(value, prefix: str = "") -> int:
    """``value`` if it is one of :data:`ALLOWED_BITS` (an integer, not a bool); else the one error every caller
    gives: "``prefix``bits must be one of {4, 6, 8, 12, 16, 32}, got ..."."""
    return check_value(MODEL_RULES["bits"], value, prefix)
N_INPUTS = 16
N_CLASSES = 5


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and quantization of one tagger. Validated on construction."""

    bits: int = 32
    widths: tuple[int, ...] = (64, 32, 32)
    batchnorm: bool = True
    l1: float = 1e-4
    input_bits: int | None = None

    def __post_init__(self) -> None:
        check_fields(MODEL_RULES, vars(self))
        object.__setattr__(self, "widths", tuple(self.widths))

    @property
    def quantized(self) -> bool:
        return self.bits != 32

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(16, *widths, 5): the number of neurons from input to output."""
        return (N_INPUTS, *self.widths, N_CLASSES)

    @property
    def relu_integer_bits(self) -> int:
        return min(3, self.bits // 2)


def dense_layer_names(spec: ModelSpec) -> tuple[str, ...]:
    """Names of the Dense layers, input to output: fc1 .. fc{n+1}."""
    return tuple(f"fc{i}" for i in range(1, len(spec.widths) + 2))


def build_model(spec: ModelSpec):
    """A compiled-free Keras model for ``spec``: (n, 16) standardised features -> (n, 5) probabilities.

    The layer before ``softmax`` (``fc{last}``) outputs the logits.
    """
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    regularizer = tf.keras.regularizers.l1(spec.l1) if spec.l1 > 0 else None
    inputs = tf.keras.Input(shape=(N_INPUTS,), name="features")
    x = inputs
    if spec.input_bits is not None:
        x = QActivation(quantized_bits(spec.input_bits, 3, alpha=1), name="input_quant")(x)
    names = dense_layer_names(spec)
    for i, units in enumerate((*spec.widths, N_CLASSES)):
        if spec.quantized:
            x = QDense(
                units,
                kernel_quantizer=quantized_bits(spec.bits, 0, alpha=1),
                bias_quantizer=quantized_bits(spec.bits, 0, alpha=1),
                kernel_regularizer=regularizer,
                name=names[i],
            )(x)
        else:
            x = tf.keras.layers.Dense(units, kernel_regularizer=regularizer, name=names[i])(x)
        if i == len(spec.widths):
            break
        if spec.batchnorm:
            x = tf.keras.layers.BatchNormalization(gamma_regularizer=regularizer, name=f"bn{i + 1}")(x)
        if spec.quantized:
            x = QActivation(quantized_relu(spec.bits, spec.relu_integer_bits), name=f"relu{i + 1}")(x)
        else:
            x = tf.keras.layers.Activation("relu", name=f"relu{i + 1}")(x)
    outputs = tf.keras.layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inputs, outputs, name=f"tagger_{spec.bits}b")


def logits_model(model):
    """A model sharing ``model``'s weights that outputs the logits (input of ``softmax``)."""
    import tensorflow as tf

    return tf.keras.Model(model.input, model.get_layer("softmax").input)

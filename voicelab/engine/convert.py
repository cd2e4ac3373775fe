"""Rebuild Kokoro-82M's fp32 PyTorch weights from the int8 ONNX export.

No registry reachable here ships the ``kokoro-v1_0.pth`` that the ``kokoro`` package's
``KModel`` loads, but the int8 ONNX model (``kokoro-v1.0.int8.onnx``, from kokoro-onnx)
holds every learned weight, only quantized and renamed. This module turns it back into
the ``{component: state_dict}`` mapping that ``KModel(model=...)`` reads with ``torch.load``.

How each ``KModel`` key is found (688 keys in all):

- **Named float initializers** (biases, LayerNorm gamma/beta, Snake alphas): the ONNX
  name is the torch name under a wrapper prefix (``_INIT_PREFIXES``).
- **Quantized weights** are named after graph intermediates (``onnx::MatMul_6547``,
  ``/decoder/decoder/decode.0/Mul_output_0``), so their module comes from the *node*
  that consumes them: node names keep the torch module scope (``_SCOPE_PREFIXES``).
  Dequantization is ``(q - zero_point) * scale``, per tensor (ConvInteger, Gather) or per
  output channel (MatMulInteger) or per direction (DynamicQuantizeLSTM).
- **Weight norm** was folded into the conv weights at export (``W = g * v / ||v||``), so we
  store ``v = W`` and ``g = ||W||`` over every dim but 0, which reproduces ``W`` exactly.
- **LSTMs**: ONNX gates are ordered i, o, f, c and its bias ``B`` is ``[Wb | Rb]``;
  torch wants i, f, g(=c), o and separate ``bias_ih`` / ``bias_hh``.
- **Not in the graph** (``_DEFAULTS``): the AdaIN InstanceNorm affine (identity, see there)
  and the ALBERT pooler (zeros, see there).

Keys are written without the ``module.`` prefix that the hub checkpoint carries (it was
saved from a DataParallel wrapper), so ``KModel`` takes its strict ``load_state_dict``
path: a missing or extra key would raise instead of being silently skipped by its
non-strict fallback. The result is checked key by key and shape by shape against a
weightless ``KModel`` built from the same config.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from voicelab.engine.errors import EngineError
from voicelab.engine.files import atomic_path
from voicelab.engine.kmodel import build_kmodel

COMPONENTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")

# ONNX initializer name prefix -> torch key prefix. kokoro-onnx wraps KModel in
# ``encoder`` (text side) and ``decoder`` (a module whose ``decoder`` is KModel.decoder).
_INIT_PREFIXES = (
    ("encoder.bert_encoder.", "bert_encoder."),
    ("encoder.bert.", "bert."),
    ("encoder.predictor.", "predictor."),
    ("encoder.text_encoder.", "text_encoder."),
    ("decoder.decoder.", "decoder."),
)

# ONNX node-scope prefix -> torch module prefix ("/" separated, like the scope).
# F0, N, F0_proj, N_proj and shared sit directly under /encoder/ because KModel calls
# predictor.F0Ntrain() through a method, which the exporter records without a scope.
_SCOPE_PREFIXES = (
    (re.compile(r"^/encoder/(bert_encoder|bert|text_encoder|predictor)/"), r"\1/"),
    (re.compile(r"^/encoder/(?=(F0|N)(\.\d+|_proj)/|shared/)"), "predictor/"),
    (re.compile(r"^/decoder/decoder/"), "decoder/"),
)

# Weight-bearing nodes whose weights are fixed by the architecture, not learned: the
# iSTFT synthesis basis is computed from the window (KModel keeps it out of its state dict).
_IGNORED_MODULES = ("decoder.generator.istft",)

# ONNX LSTM gate blocks are i, o, f, c; torch's are i, f, g (= c), o.
_ONNX_TO_TORCH_GATES = (0, 2, 3, 1)


# Keys the ONNX graph has no value for, with the value that reproduces the graph.
_DEFAULTS: tuple[tuple[re.Pattern[str], Callable[[torch.Size], torch.Tensor]], ...] = (
    # AdaIN1d's InstanceNorm1d(affine=True): kokoro/istftnet.py says affine "should be
    # False" and is True only to dodge an old ONNX exporter bug; the exported graph
    # normalizes with no scale or shift, so identity reproduces it exactly.
    (re.compile(r"\.norm\.weight$"), torch.ones),
    (re.compile(r"\.norm\.bias$"), torch.zeros),
    # ALBERT pooler: CustomAlbert.forward returns last_hidden_state, so the pooled output
    # is computed and discarded and the exporter pruned it. Zeros keep it inert.
    (re.compile(r"^bert\.pooler\.(weight|bias)$"), torch.zeros),
)


class ConversionError(EngineError):
    """The ONNX model does not map onto KModel's state dict; the message says where."""


def rebuild_state_dict(onnx_path: Path, config_path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """KModel's full fp32 state dict, as ``{component: {key: tensor}}``, from the int8 ONNX.

    Deterministic: the same files give bit-identical tensors, in KModel's key order.
    Raises ConversionError if any key is missing, unexpected or of the wrong shape.
    """
    expected = _expected_shapes(Path(config_path))
    graph = _Graph(onnx.load(str(onnx_path)))
    flat: dict[str, torch.Tensor] = {}
    for key, value in _graph_weights(graph, expected):
        if key in flat and not torch.equal(flat[key], value):
            raise ConversionError(f"Two different ONNX weights map to {key}.")
        flat[key] = value
    for key, value in _named_initializers(graph, expected):
        flat.setdefault(key, value)
    for key, shape in expected.items():
        if key not in flat:
            flat[key] = _default_for(key, shape)
    _check(flat, expected)
    return _nest({key: flat[key].contiguous() for key in expected})


def write_pth(onnx_path: Path, config_path: Path, out_path: Path) -> None:
    """Rebuild the state dict and save it for ``KModel(model=out_path)``.

    Written to a temporary file in the target folder, then renamed over the target,
    so a crash never leaves a truncated checkpoint where a reader would trust it.
    """
    state = rebuild_state_dict(onnx_path, config_path)
    with atomic_path(Path(out_path)) as temp, open(temp, "wb") as stream:
        torch.save(state, stream)  # a file object: the archive's name does not follow the temp name


# --- the reference: what KModel expects -------------------------------------------------


def _expected_shapes(config_path: Path) -> dict[str, torch.Size]:
    """``{component.key: shape}`` of a KModel built from the config, in state-dict order.

    Built on the meta device (no memory, no random init) from an empty checkpoint:
    KModel always loads *some* file and would otherwise go to the hub for one.
    """
    config = json.loads(config_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.pth"
        torch.save({}, empty)
        with torch.device("meta"):
            model = build_kmodel(config, empty)
    return {
        f"{component}.{key}": value.shape
        for component in COMPONENTS
        for key, value in getattr(model, component).state_dict().items()
    }


# --- reading the graph ------------------------------------------------------------------


class _Graph:
    """The ONNX graph's initializers (as numpy) and who consumes each tensor."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.nodes = list(model.graph.node)
        self._initializers = {init.name: init for init in model.graph.initializer}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def has(self, name: str) -> bool:
        return name in self._initializers

    def array(self, name: str) -> np.ndarray:
        if name not in self._initializers:
            raise ConversionError(f"The ONNX model has no initializer {name!r}.")
        return numpy_helper.to_array(self._initializers[name])

    def is_quantized(self, name: str) -> bool:
        """An 8-bit initializer: a quantized weight (shape constants are int64)."""
        init = self._initializers.get(name)
        return init is not None and init.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)

    def names(self) -> Iterator[str]:
        return iter(self._initializers)

    def dequantize(self, q_name: str, zero_point: str, scale: str, axis: int | None = None) -> np.ndarray:
        """``(q - zero_point) * scale``; with ``axis``, scale and zero point are per that axis."""
        q = self.array(q_name).astype(np.float32)
        zp = self.array(zero_point).astype(np.float32)
        sc = self.array(scale).astype(np.float32)
        if axis is not None:  # broadcast [n] against q's dimension ``axis``
            shape = [1] * q.ndim
            shape[axis] = -1
            zp, sc = zp.reshape(shape), sc.reshape(shape)
        return (q - zp) * sc


def _module_path(node_name: str) -> str:
    """The torch module a node belongs to, from its export scope.

    ``/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant`` -> ``text_encoder.cnn.0.0``:
    nn.Sequential children repeat their parent's scope, and repeated calls of one
    module (ALBERT's shared layer, 12 times) get ``_1`` .. ``_11`` suffixes.
    """
    for pattern, replacement in _SCOPE_PREFIXES:
        scope, found = pattern.subn(replacement, node_name)
        if found:
            break
    else:
        raise ConversionError(f"ONNX node {node_name!r} is outside every known module scope.")
    parts = [re.sub(r"_\d+$", "", part) for part in scope.split("/")[:-1]]
    kept = [part for part, child in zip(parts, [*parts[1:], ""], strict=True) if not child.startswith(part + ".")]
    return ".".join(kept)


def _quantized_scale_name(q_name: str) -> str:
    """onnxruntime's quantizer names a weight's scale after the weight.

    Zero points were deduplicated across weights by a later optimizer (they are read
    from the node instead), but every quantized weight kept its own ``_scale``.
    """
    return q_name.removesuffix("_quantized") + "_scale"


# --- one handler per weight-bearing op --------------------------------------------------


def _gather(graph: _Graph, node: onnx.NodeProto) -> np.ndarray | None:
    """Embedding tables: ``Gather(table_q, ids)`` then ``DequantizeLinear(scale, zp)``."""
    if not graph.is_quantized(node.input[0]):
        return None  # a Gather of shapes or indices, not of a weight
    dequant = [c for c in graph.consumers[node.output[0]] if c.op_type == "DequantizeLinear"]
    if not dequant:
        raise ConversionError(f"No DequantizeLinear after {node.name}.")
    return graph.dequantize(node.input[0], dequant[0].input[2], dequant[0].input[1])


def _matmul_integer(graph: _Graph, node: onnx.NodeProto) -> np.ndarray:
    """Linear layers: ``B`` is [in, out] with per-output-column scale; torch wants [out, in]."""
    b = node.input[1]
    return graph.dequantize(b, node.input[3], _quantized_scale_name(b), axis=1).T


def _conv_integer(graph: _Graph, node: onnx.NodeProto) -> np.ndarray:
    """Conv1d weights [out, in, k], quantized per tensor."""
    w = node.input[1]
    return graph.dequantize(w, node.input[3], _quantized_scale_name(w))


def _float_weight(graph: _Graph, node: onnx.NodeProto) -> np.ndarray | None:
    """Layers left in fp32 by the quantizer (ConvTranspose, conv_post, l_linear)."""
    if not graph.has(node.input[1]):
        return None  # a MatMul of two activations (attention scores)
    weight = graph.array(node.input[1])
    return weight.T if node.op_type == "MatMul" else weight  # MatMul B is [in, out]


_WEIGHT_OPS: dict[str, Callable[[_Graph, onnx.NodeProto], np.ndarray | None]] = {
    "Gather": _gather,
    "MatMulInteger": _matmul_integer,
    "ConvInteger": _conv_integer,
    "Conv": _float_weight,
    "ConvTranspose": _float_weight,
    "MatMul": _float_weight,
}


def _graph_weights(graph: _Graph, expected: dict[str, torch.Size]) -> Iterator[tuple[str, torch.Tensor]]:
    """Every weight read through its consuming node, under its torch key(s)."""
    for node in graph.nodes:
        if node.op_type == "DynamicQuantizeLSTM":
            yield from _lstm(graph, node)
            continue
        handler = _WEIGHT_OPS.get(node.op_type)
        weight = handler(graph, node) if handler else None
        if weight is None:
            continue
        module = _module_path(node.name)
        if module.startswith(_IGNORED_MODULES):
            continue
        yield from _with_weight_norm(module, _to_torch(weight), expected)


def _with_weight_norm(
    module: str, weight: torch.Tensor, expected: dict[str, torch.Size]
) -> Iterator[tuple[str, torch.Tensor]]:
    """``module.weight``, or ``weight_g``/``weight_v`` where KModel wraps it in weight_norm.

    torch.nn.utils.weight_norm uses dim=0 for Conv1d and ConvTranspose1d alike (for the
    latter dim 0 is the *input* channel), so g is the norm over all other dims.
    """
    if f"{module}.weight_g" not in expected:
        yield f"{module}.weight", weight
        return
    norm = torch.linalg.vector_norm(weight, dim=tuple(range(1, weight.ndim)), keepdim=True)
    # Per-tensor int8 rounds some quiet output channels to all zeros (52 of 256 in
    # predictor.F0.2.conv1). v = 0 would give W = 0 * 0/0 = NaN; with g = 0, any
    # non-zero v gives the exact W = 0.
    dead = (norm == 0).expand_as(weight)
    yield f"{module}.weight_g", norm
    yield f"{module}.weight_v", torch.where(dead, torch.ones_like(weight), weight)


def _lstm(graph: _Graph, node: onnx.NodeProto) -> Iterator[tuple[str, torch.Tensor]]:
    """A bidirectional LSTM's 8 torch tensors from DynamicQuantizeLSTM.

    Inputs: X, W [dir, in, 4H], R [dir, H, 4H], B [dir, 8H], ..., W_scale, W_zero_point,
    R_scale, R_zero_point (scales and zero points per direction).
    """
    module = _module_path(node.name)
    w = graph.dequantize(node.input[1], node.input[9], node.input[8], axis=0)
    r = graph.dequantize(node.input[2], node.input[11], node.input[10], axis=0)
    b = graph.array(node.input[3]).astype(np.float32)
    for direction, suffix in enumerate(("", "_reverse")):
        w_bias, r_bias = np.split(b[direction], 2)
        tensors = {
            "weight_ih": w[direction].T,
            "weight_hh": r[direction].T,
            "bias_ih": w_bias,
            "bias_hh": r_bias,
        }
        for name, value in tensors.items():
            yield f"{module}.{name}_l0{suffix}", _torch_gate_order(value)


def _torch_gate_order(value: np.ndarray) -> torch.Tensor:
    """Reorder the four gate blocks along dim 0 from ONNX (i, o, f, c) to torch (i, f, g, o)."""
    blocks = np.split(value, 4, axis=0)
    return _to_torch(np.concatenate([blocks[i] for i in _ONNX_TO_TORCH_GATES]))


def _named_initializers(graph: _Graph, expected: dict[str, torch.Size]) -> Iterator[tuple[str, torch.Tensor]]:
    """Float initializers whose ONNX name is a torch name under a wrapper prefix."""
    for name in graph.names():
        for onnx_prefix, torch_prefix in _INIT_PREFIXES:
            if name.startswith(onnx_prefix):
                key = torch_prefix + name.removeprefix(onnx_prefix)
                if key in expected:
                    yield key, _to_torch(graph.array(name))
                break


def _to_torch(array: np.ndarray) -> torch.Tensor:
    """A float32 tensor owning writable, C-ordered memory (onnx's arrays are read-only views)."""
    return torch.from_numpy(np.require(array, dtype=np.float32, requirements=("C", "W", "O")))


def _default_for(key: str, shape: torch.Size) -> torch.Tensor:
    for pattern, make in _DEFAULTS:
        if pattern.search(key):
            return make(shape)
    raise ConversionError(f"No ONNX weight maps to {key} and it has no documented default.")


def _check(flat: dict[str, torch.Tensor], expected: dict[str, torch.Size]) -> None:
    unexpected = sorted(set(flat) - set(expected))
    if unexpected:
        raise ConversionError(f"Keys KModel does not have: {unexpected[:10]}")
    wrong = [f"{k}: {tuple(flat[k].shape)} != {tuple(s)}" for k, s in expected.items() if flat[k].shape != s]
    if wrong:
        raise ConversionError(f"Shapes differ from KModel's: {wrong[:10]}")
    not_float = [k for k, v in flat.items() if v.dtype != torch.float32]
    if not_float:
        raise ConversionError(f"Not float32: {not_float[:10]}")


def _nest(flat: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """``{"decoder.encode.conv1.bias": t}`` -> ``{"decoder": {"encode.conv1.bias": t}}``."""
    nested: dict[str, dict[str, torch.Tensor]] = {component: {} for component in COMPONENTS}
    for key, value in flat.items():
        component, _, rest = key.partition(".")
        nested[component][rest] = value
    return nested

"""Plain PyTorch twins of `gans.models.unet.UNetGenerator` and
`gans.models.patchgan.PatchGANDiscriminator`, NCHW, for timing a pix2pix step in PyTorch
eager beside the JAX one and for checking that both compute the same function.

Same layers in the same order, the same padding, norm, activation and dropout placement
and the same init as the Flax modules; the submodules carry the Flax layer names (a
`ModuleDict` keyed 'down0', 'down1_norm', ...), so `load_flax_variables` copies a Flax
variable tree in and `flax_layout` reads parameters or gradients back in Flax's layout.
The architecture is written again here rather than imported, so that agreement tests
check the Flax code against an independent description.

Differences that remain:
- Dropout masks come from torch's generator; `forward(..., dropout_masks=...)` takes
  given {0, 1} masks instead, e.g. read off the Flax model to reproduce a Flax step.
- PyTorch's BatchNorm2d updates its running variance with the unbiased batch variance,
  Flax with the biased one (n / (n - 1) smaller), so the eval-mode outputs drift apart
  after training steps even though every train-mode output and gradient agrees.

Imports torch at module level: import this module only where torch is installed
(`pip install .[bench]`); the JAX library never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NORMS = ('batch', 'instance', 'none')


def _widths(count: int, width: int) -> list[int]:
    return [width * min(2 ** i, 8) for i in range(count)]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == 'batch':  # momentum 0.1 here is Flax's 0.9
        return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)
    if kind == 'instance':  # per example and channel, in train and eval mode alike
        return nn.InstanceNorm2d(channels, eps=1e-5, affine=True, track_running_stats=False)
    raise ValueError(f'norm must be one of {NORMS}, got {kind!r}')


def _init(module: nn.Module) -> None:
    """The reference init: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)):
            nn.init.normal_(layer.weight, 1.0, 0.02)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


class TorchUNetGenerator(nn.Module):
    """UNetGenerator in NCHW: source [N, in_channels, S, S] -> images [N, channels, S, S].

    Arguments as the Flax module's fields, plus `image_size` (S, a power of two in
    16..256) and `in_channels`, which torch needs to build its layers. Dropout is active
    in train mode or with `test_dropout`, as in Flax.
    """

    def __init__(self, image_size: int, in_channels: int, channels: int = 3, width: int = 64,
                 norm: str = 'batch', skips: bool = True, num_dropout: int = 3,
                 dropout_rate: float = 0.5, test_dropout: bool = True):
        super().__init__()
        if image_size not in (16, 32, 64, 128, 256):
            raise ValueError(f'TorchUNetGenerator supports image sizes 16, 32, ..., 256, got {image_size}')
        self.widths = _widths(int(np.log2(image_size)), width)
        self.skips, self.dropout_rate, self.test_dropout = skips, dropout_rate, test_dropout
        depth, normalise = len(self.widths), norm != 'none'
        self.dropout_layers = [f'up{i}' for i in range(depth - 2, -1, -1)][:num_dropout]
        layers, previous = {}, in_channels
        for i, features in enumerate(self.widths):
            norm_here = normalise and 0 < i < depth - 1  # not on the image, nor on the 1x1 bottleneck
            layers[f'down{i}'] = nn.Conv2d(previous, features, 4, 2, 1, bias=not norm_here)
            if norm_here:
                layers[f'down{i}_norm'] = _norm(norm, features)
            previous = features
        for i in range(depth - 2, -1, -1):
            layers[f'up{i}'] = nn.ConvTranspose2d(previous, self.widths[i], 4, 2, 1, bias=not normalise)
            if normalise:
                layers[f'up{i}_norm'] = _norm(norm, self.widths[i])
            previous = self.widths[i] * (2 if skips else 1)
        layers['to_image'] = nn.ConvTranspose2d(previous, channels, 4, 2, 1)
        self.layers = nn.ModuleDict(layers)
        _init(self)

    def _maybe(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.layers[name](x) if name in self.layers else x

    def forward(self, source: torch.Tensor,
                dropout_masks: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """`dropout_masks`: {'up{i}': {0, 1} mask of up{i}'s output shape} replaces the random draws."""
        depth, encoded, x = len(self.widths), [], source
        for i in range(depth):
            x = self._maybe(f'down{i}_norm', self.layers[f'down{i}'](F.leaky_relu(x, 0.2) if i else x))
            encoded.append(x)
        for i in range(depth - 2, -1, -1):
            x = self._maybe(f'up{i}_norm', self.layers[f'up{i}'](F.relu(x)))
            name = f'up{i}'
            if name in self.dropout_layers:
                if dropout_masks is not None:
                    x = x * dropout_masks[name] / (1.0 - self.dropout_rate)
                else:
                    x = F.dropout(x, self.dropout_rate, training=self.training or self.test_dropout)
            if self.skips:
                x = torch.cat([x, encoded[i]], dim=1)
        return torch.tanh(self.layers['to_image'](F.relu(x)))


class TorchPatchGANDiscriminator(nn.Module):
    """PatchGANDiscriminator in NCHW: (source [N, C_s, H, W], image [N, C, H, W]) -> logits
    [N, h, w]; `in_channels` is C_s + C."""

    def __init__(self, in_channels: int, num_layers: int = 3, width: int = 64, norm: str = 'batch'):
        super().__init__()
        strides = [2] * num_layers + [1]
        layers, previous = {}, in_channels
        for l, (features, stride) in enumerate(zip(_widths(num_layers + 1, width), strides)):
            norm_here = norm != 'none' and l > 0
            layers[f'conv{l}'] = nn.Conv2d(previous, features, 4, stride, 1, bias=not norm_here)
            if norm_here:
                layers[f'conv{l}_norm'] = _norm(norm, features)
            previous = features
        layers['to_logit'] = nn.Conv2d(previous, 1, 4, 1, 1)
        self.num_hidden = num_layers + 1
        self.layers = nn.ModuleDict(layers)
        _init(self)

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = torch.cat([source, image], dim=1)
        for l in range(self.num_hidden):
            x = self.layers[f'conv{l}'](x)
            if f'conv{l}_norm' in self.layers:
                x = self.layers[f'conv{l}_norm'](x)
            x = F.leaky_relu(x, 0.2)
        return self.layers['to_logit'](x)[:, 0]


# Flax kernels are [kh, kw, in, out] for both kinds. torch's Conv2d weight is [out, in, kh, kw];
# its ConvTranspose2d weight is [in, out, kh, kw] and is the adjoint of a conv with that kernel,
# which flips it spatially relative to Flax's (and this library's) transposed conv.
def _conv_weight(kernel: np.ndarray, transposed: bool) -> np.ndarray:
    return kernel[::-1, ::-1].transpose(2, 3, 0, 1) if transposed else kernel.transpose(3, 2, 0, 1)


def _flax_kernel(weight: np.ndarray, transposed: bool) -> np.ndarray:
    return weight.transpose(2, 3, 0, 1)[::-1, ::-1] if transposed else weight.transpose(2, 3, 1, 0)


def load_flax_variables(module: nn.Module, variables: Mapping) -> None:
    """Copies a Flax variable tree ({'params': ..., 'batch_stats': ...}) into a twin, in place.

    Every torch layer must find its Flax layer and vice versa (a mismatch in names or
    shapes raises), so a twin built with other settings cannot load silently.
    """
    params, stats = variables['params'], variables.get('batch_stats', {})
    missing = set(module.layers) ^ set(params)
    if missing:
        raise ValueError(f'Flax and torch layers differ: {sorted(missing)}')

    def copy(target: torch.Tensor, value) -> None:
        value = np.array(value, dtype=np.float32)  # a writable, contiguous copy for torch
        if tuple(target.shape) != value.shape:
            raise ValueError(f'shape mismatch: torch {tuple(target.shape)} vs converted Flax {value.shape}')
        target.copy_(torch.from_numpy(value))

    with torch.no_grad():
        for name, layer in module.layers.items():
            p = params[name]
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                transposed = isinstance(layer, nn.ConvTranspose2d)
                copy(layer.weight, _conv_weight(np.asarray(p['kernel']), transposed))
            else:
                copy(layer.weight, p['scale'])
            if layer.bias is not None:
                copy(layer.bias, p['bias'])
            if isinstance(layer, nn.BatchNorm2d):
                copy(layer.running_mean, stats[name]['mean'])
                copy(layer.running_var, stats[name]['var'])


def flax_layout(module: nn.Module, grads: bool = False) -> dict:
    """The twin's parameters (or, with `grads`, their .grad) as a Flax 'params' tree of
    NumPy arrays ({'down0': {'kernel': [kh, kw, in, out], 'bias': ...}, 'down1_norm':
    {'scale', 'bias'}, ...}); batch statistics are left out."""
    tree = {}
    for name, layer in module.layers.items():
        def read(tensor):
            value = tensor.grad if grads else tensor
            if value is None:
                raise ValueError(f'{name} has no gradient: run backward first')
            return value.detach().cpu().numpy()
        entry = {}
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            transposed = isinstance(layer, nn.ConvTranspose2d)
            entry['kernel'] = np.ascontiguousarray(_flax_kernel(read(layer.weight), transposed))
        else:
            entry['scale'] = read(layer.weight)
        if layer.bias is not None:
            entry['bias'] = read(layer.bias)
        tree[name] = entry
    return tree

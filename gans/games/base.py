"""The game contract: what the engine asks of a model, and the base class of noise-driven games.

A *game* says how a batch becomes each player's loss. The engine (`gans.engine`) jits one step
for every game: it asks the game for the generator's inputs, differentiates `d_loss` and
`g_loss` in each player's parameters, and hands the gradients to each player's optax
transform. It never names a game; everything that differs between models is here.

    class MyGame(NoiseGame):            # G(z) against D(x), today's behaviour by default
        def d_loss(self, d_params, state, batch, key): ...
        def g_loss(self, g_params, state, batch, key): ...

Both losses return `(loss, Aux(metrics, model_state, game_state))`: the metrics to log, the new
value of every mutable Flax collection of *that* player's network, and the game's new state.
The game state flows through the losses in the order the step takes them (D's updates, then
G's; with simultaneous updates G's first), so either player may advance it.

A generator's inputs reach the losses in the batch, under `GENERATOR_INPUTS`: the step draws
them once for the whole batch (`Game.generator_inputs`) and splits them with it per D step and
per micro-batch, so that gradient accumulation splits fakes exactly as it splits examples.
"""
from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gans import losses
from gans.data import DatasetSpec
from gans.engine.state import GANState, Inputs, ModelState

Batch = dict[str, Any]
Metrics = dict[str, jax.Array]

GENERATOR_INPUTS = 'generator_inputs'


class Aux(NamedTuple):
    """What each player's loss returns beside the scalar it minimises."""
    metrics: Metrics
    model_state: ModelState  # the new value of every mutable collection of this player's network
    game_state: Any          # the game's state after this loss


class Direction(NamedTuple):
    """One way a translation game maps examples: batch[source] -> images like batch[reference].

    Attributes:
      source: batch key of the inputs.
      reference: batch key of real images of the output domain.
      paired: whether batch[reference][i] is the target of batch[source][i] (pix2pix), so outputs
        are scored against it image by image (L1, PSNR, SSIM); else (CycleGAN) only as a set (FD).
      label: batch key of class labels, or None: paired, the class each output should keep (its
        example's); unpaired, the classes of the reference domain, where outputs should land.
      inverse: the direction that maps back (cycle consistency is scored through it), or None.
      source_class, reference_class: when the domains are classes of one labelled set (StarGAN),
        the batch[label] of the examples that are inputs, and of those that are references.
    """
    source: str
    reference: str
    paired: bool = True
    label: str | None = 'label'
    inverse: str | None = None
    source_class: int | None = None
    reference_class: int | None = None


class Game(Protocol):
    """The engine's contract with a model.

    Attributes:
      input_source: 'prior' when the generator's inputs are drawn from a prior (noise, labels,
        codes), so the run can be sampled (`gans sample`) and scored against a data split;
        'data' when they come from examples (an image to translate), so the run translates
        (`gans translate`) and is scored against the examples' targets.
      preview_split: the split whose examples feed sample grids and evaluation of a 'data'
        game (None: the grids need no examples).
      directions: a 'data' game's translations by name, the first the default (pix2pix:
        {'forward'}; CycleGAN: {'a2b', 'b2a'}); empty for a 'prior' game.
    """
    input_source: str
    preview_split: str | None
    directions: Mapping[str, Direction]

    def example_inputs(self, spec: DatasetSpec) -> tuple[Inputs, Inputs]:
        """(G's, D's) example inputs for initialisation; only their shapes matter."""

    def generator_inputs(self, batch: Batch, key: jax.Array) -> Inputs:
        """G's inputs for the fakes that face `batch` (one per example): noise, labels, an image of
        the batch, or several of these."""

    def init_game_state(self, state: GANState, key: jax.Array) -> Any:
        """The game's own arrays at step 0 (an empty dict when it has none)."""

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """The discriminator's loss on `batch` (its generator inputs under GENERATOR_INPUTS)."""

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """The generator's loss on `batch` (fresh generator inputs under GENERATOR_INPUTS)."""

    def preview_size(self, grid_size: int) -> int:
        """How many generator outputs a sample grid of side `grid_size` shows."""

    def preview_inputs(self, key: jax.Array, num: int, heldout: Batch | None) -> Inputs:
        """G's inputs for `num` previews: sample grids, `gans sample`, evaluation, latent tools.
        `heldout` holds `num` examples of `preview_split` for a 'data' game, else None."""

    def preview_grid(self, inputs: Inputs, outputs: jax.Array, heldout: Batch | None) -> tuple[Any, int]:
        """(images in [-1, 1] NHWC or 2-D points, columns) of the sample grid of these outputs."""

    def translation_inputs(self, direction: str, images: jax.Array, key: jax.Array) -> Inputs:
        """G's inputs that translate `images` (a batch of `directions[direction].source`)."""

    def translation_outputs(self, direction: str, outputs: Any) -> jax.Array:
        """The translated images among G's outputs for `translation_inputs(direction, ...)`."""

    def check_step(self, *, micro_batches: int, d_steps: int) -> None:
        """Raises ValueError if the step's options cannot play this game."""


def batch_size(batch: Batch) -> int:
    return jax.tree.leaves(batch)[0].shape[0]


def drawn_inputs(game: Game, batch: Batch, key: jax.Array) -> Inputs:
    """The generator inputs the step drew for `batch`, else fresh ones from `key` (a loss called
    on its own, outside the engine's step)."""
    if GENERATOR_INPUTS in batch:
        return batch[GENERATOR_INPUTS]
    return game.generator_inputs(batch, key)


def generate(state: GANState, g_params: Any, inputs: Inputs, key: jax.Array | None = None) -> tuple[Any, ModelState]:
    """G(inputs) in training mode; (fakes, G's new model state)."""
    return state.generator.apply(inputs, params=g_params, train=True, key=key)


def discriminate(state: GANState, d_params: Any, model_state: ModelState, inputs: Inputs,
                 key: jax.Array | None = None, **kwargs) -> tuple[Any, ModelState]:
    """D(inputs, **kwargs) in training mode from `model_state`; (outputs, D's new model state)."""
    return state.discriminator.apply(inputs, params=d_params, model_state=model_state, train=True, key=key,
                                     **kwargs)


@dataclasses.dataclass(frozen=True)
class NoiseGame:
    """Base of the games whose generator maps a prior sample to an example: G(z) against D(x).

    Subclasses set `latent_dim` and write `d_loss` and `g_loss`; override `sample_latents` for
    other priors or keyword inputs ({'z', 'labels'}), `discriminator_example` for a D that takes
    more than images, and `categorical_inputs` to name the discrete inputs the latent tools
    traverse.
    """
    latent_dim: int

    input_source = 'prior'
    preview_split = None
    directions = types.MappingProxyType({})  # type: Mapping[str, Direction]
    # Examples in D's initialisation batch (a packing D needs whole packs).
    example_batch = 1

    def sample_latents(self, key: jax.Array, num: int) -> Inputs:
        """z ~ N(0, I), [num, latent_dim]."""
        return jax.random.normal(key, (num, self.latent_dim))

    def categorical_inputs(self) -> dict[str, int]:
        """Discrete generator inputs and their number of values (e.g. {'labels': 10})."""
        return {}

    def discriminator_example(self, x: jax.Array) -> Inputs:
        return x

    def example_inputs(self, spec: DatasetSpec) -> tuple[Inputs, Inputs]:
        x = jnp.zeros((self.example_batch, *spec.shape))
        return self.sample_latents(jax.random.key(0), 1), self.discriminator_example(x)

    def generator_inputs(self, batch: Batch, key: jax.Array) -> Inputs:
        return self.sample_latents(key, batch_size(batch))

    def init_game_state(self, state: GANState, key: jax.Array) -> Any:
        del state, key
        return {}

    def preview_size(self, grid_size: int) -> int:
        return grid_size ** 2

    def preview_inputs(self, key: jax.Array, num: int, heldout: Batch | None = None) -> Inputs:
        del heldout
        return self.sample_latents(key, num)

    def preview_grid(self, inputs: Inputs, outputs: Any, heldout: Batch | None = None) -> tuple[Any, int]:
        del inputs, heldout
        return outputs, 0  # 0: a square grid

    def translation_inputs(self, direction: str, images: jax.Array, key: jax.Array) -> Inputs:
        raise ValueError(f'{type(self).__name__} samples a prior; it translates nothing')

    def translation_outputs(self, direction: str, outputs: Any) -> jax.Array:
        raise ValueError(f'{type(self).__name__} samples a prior; it translates nothing')

    def check_step(self, *, micro_batches: int, d_steps: int) -> None:
        del micro_batches, d_steps


class GameSetup(NamedTuple):
    """What a game's builder returns: the game, its two networks, and what it asks of the players.

    The engine gives each player Adam from `config.optim` unless the game brings its own
    transform (`g_tx`, `d_tx`: e.g. `optax.multi_transform` over a player's several networks).
    `d_weight_clip` is the discriminator's weight clipping when `optim.weight_clip` is unset
    (WGAN's critic). `*_rng_streams` name the Flax rng streams each network draws from when
    applied (pix2pix's 'dropout'), so that sampling and evaluation can feed them too.
    """
    game: Game
    generator: nn.Module
    discriminator: nn.Module
    d_weight_clip: float | None = None
    g_tx: optax.GradientTransformation | None = None
    d_tx: optax.GradientTransformation | None = None
    g_rng_streams: tuple[str, ...] = ()
    d_rng_streams: tuple[str, ...] = ()


def objective_config(section: ml_collections.ConfigDict, loss: str = 'nonsaturating') -> ml_collections.ConfigDict:
    """Adds the adversarial objective's fields to a game's config section."""
    placeholder = ml_collections.config_dict.placeholder
    section.loss = loss  # one of gans.losses.OBJECTIVES
    section.gradient_penalty_weight = placeholder(float)  # None: the objective's default (10 for wgan_gp)
    section.r1_weight = 0.0  # R1 (Mescheder et al. 2018) on real data; 0: off
    return section


def objective_fields(section: ml_collections.ConfigDict) -> dict[str, Any]:
    """(objective, gradient_penalty_weight, r1_weight) of a section made by `objective_config`."""
    objective = losses.get_objective(section.loss)
    weight = section.gradient_penalty_weight
    return dict(objective=objective, r1_weight=section.r1_weight,
                gradient_penalty_weight=objective.gradient_penalty_weight if weight is None else weight)


def penalty_free_objective(section: ml_collections.ConfigDict, game: str) -> losses.Objective:
    """The objective of a section made by `objective_config`, refusing gradient penalties (games whose
    D judges pairs or several outputs: pix2pix, CycleGAN)."""
    objective = losses.get_objective(section.loss)
    if objective.gradient_penalty_weight or section.gradient_penalty_weight or section.r1_weight:
        raise ValueError(f'game {game} takes no gradient penalties; use nonsaturating, lsgan or hinge')
    return objective


def check_plain_discriminator(config: ml_collections.ConfigDict, game: str) -> None:
    """Refuses the discriminator remedies (packing, batch features) in games that do not take them."""
    d = config.discriminator
    options = [f'discriminator.{name}' for name, plain in (('pack', 1), ('batch_features', 'none'))
               if d.get(name, plain) != plain]
    if options:
        raise ValueError(f'game {game} does not take {options}; they are options of game gan')


def _as_rgb_if_mixed(rows: list[Any]) -> list[Any]:
    """Grey rows repeated to 3 channels when other rows are colour, so the grid can stack them."""
    channels = max(row.shape[-1] for row in rows)
    return [jnp.repeat(row, channels, axis=-1) if row.shape[-1] == 1 and channels > 1 else row for row in rows]


@dataclasses.dataclass(frozen=True)
class TranslationGame:
    """Base of the games whose generator translates an example of the batch: G(batch[source_key]).

    D's example input is {'source': ..., 'image': ...} (a conditional D judging pairs). Sample
    grids show the first rows of `preview_split`: inputs | outputs | targets (when the dataset
    has them), one column per example. Subclasses write `d_loss` and `g_loss`.
    """
    source_key = 'source'
    target_key = 'target'
    input_source = 'data'
    preview_split = 'test'

    def example_inputs(self, spec: DatasetSpec) -> tuple[Inputs, Inputs]:
        if self.source_key not in spec.features:
            raise ValueError(f'{type(self).__name__} translates batch[{self.source_key!r}], which dataset '
                             f'{spec.name!r} ({spec.kind}) does not have (it has {sorted(spec.features)}); use a '
                             f'paired dataset such as fashion_edges')
        source = jnp.zeros((1, *spec.features[self.source_key]))
        return source, {'source': source, 'image': jnp.zeros((1, *spec.shape))}

    def generator_inputs(self, batch: Batch, key: jax.Array) -> Inputs:
        del key
        return batch[self.source_key]

    @property
    def directions(self) -> Mapping[str, Direction]:
        return {'forward': Direction(self.source_key, self.target_key)}

    def translation_inputs(self, direction: str, images: jax.Array, key: jax.Array) -> Inputs:
        return self.generator_inputs({self.directions[direction].source: images}, key)

    def translation_outputs(self, direction: str, outputs: Any) -> jax.Array:
        del direction
        return outputs

    def init_game_state(self, state: GANState, key: jax.Array) -> Any:
        del state, key
        return {}

    def preview_size(self, grid_size: int) -> int:
        return grid_size  # one column per example, a row each for inputs, outputs, targets

    def preview_inputs(self, key: jax.Array, num: int, heldout: Batch | None) -> Inputs:
        del key
        if heldout is None:
            raise ValueError(f'{type(self).__name__} previews translations of held-out examples: pass a batch of '
                             f'the {self.preview_split!r} split')
        return heldout[self.source_key][:num]

    def preview_grid(self, inputs: Inputs, outputs: Any, heldout: Batch | None) -> tuple[Any, int]:
        num = outputs.shape[0]
        rows = [inputs, outputs]
        if heldout is not None and self.target_key in heldout:
            rows.append(heldout[self.target_key][:num])
        return jnp.concatenate(_as_rgb_if_mixed(rows)), num

    def check_step(self, *, micro_batches: int, d_steps: int) -> None:
        del micro_batches, d_steps

"""Per-program compiler options: Eigen convolutions on CPU, same results as XLA's default."""
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import losses, optim
from gans.engine import compile_options, sharding
from gans.engine.state import create_state
from gans.engine.step import jit_train_step, make_train_step
from gans.games.gan import AdversarialGame
from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator

LATENT = 16
# Wide enough that XLA's default sends the convolutions to YNNPACK (it keeps <= 16 channels off it).
WIDTH = 32


def _ynn_convolutions(hlo: str) -> int:
    """Fusions that XLA hands to YNNPACK and that compute a convolution."""
    count = 0
    for match in re.finditer(r'fusion\([^\n]*calls=%([\w.\-]+)[^\n]*__ynn_fusion', hlo):
        body = re.search(r'\n%' + re.escape(match.group(1)) + r' .*?\n}', hlo, re.S).group(0)
        count += ' convolution(' in body
    return count


def _step_and_inputs(cpu_convolutions: str):
    mesh = sharding.make_mesh(1)
    gen, disc = DCGANGenerator(16, 1, WIDTH), DCGANDiscriminator(16, 1, WIDTH)
    tx = optim.player_optimizer(2e-4)
    init = lambda key: create_state(gen, disc, tx, tx, key, jnp.zeros((1, LATENT)), jnp.zeros((1, 16, 16, 1)))
    state = jax.jit(init, out_shardings=sharding.replicated(mesh))(jax.random.key(0))
    game = AdversarialGame(latent_dim=LATENT, objective=losses.get_objective('nonsaturating'))
    step = jit_train_step(make_train_step(game), mesh, cpu_convolutions)
    real = np.tanh(np.random.default_rng(0).normal(size=(16, 16, 16, 1))).astype(np.float32)
    return step, state, sharding.global_batch({'x': real}, mesh), sharding.replicate(jax.random.key(1), mesh)


@pytest.fixture(scope='module')
def eigen_and_default():
    return _step_and_inputs('eigen'), _step_and_inputs('xla_default')


def test_eigen_step_has_no_ynnpack_convolution(eigen_and_default):
    (step, state, batch, key), _ = eigen_and_default
    hlo = step.lower(state, batch, key).compile().as_text()
    assert ' convolution(' in hlo
    assert _ynn_convolutions(hlo) == 0


def test_eigen_steps_match_xla_default(eigen_and_default):
    """Both libraries compute the same float32 convolutions; sums in another order differ by
    ~1e-7 relative, which three Adam steps keep far below 1e-4 on parameters of scale 0.02-1."""
    finals = []
    for step, state, batch, key in eigen_and_default:
        for _ in range(3):
            state, metrics = step(state, batch, key)
        finals.append(jax.device_get((state.generator.params, state.discriminator.params, metrics)))
    for a, b in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1])):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_options_only_for_cpu_eigen(monkeypatch):
    monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
    assert compile_options.compiler_options('eigen', 'cpu') == {
        compile_options.YNN_FUSION_OPTION: compile_options.WITHOUT_YNN_CONVOLUTIONS}
    assert compile_options.compiler_options('xla_default', 'cpu') is None
    assert compile_options.compiler_options('eigen', 'gpu') is None


def test_user_xla_flags_win(monkeypatch):
    monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_experimental_ynn_fusion_type=-individual_dot')
    assert compile_options.compiler_options('eigen', 'cpu') is None


def test_unknown_library_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown cpu_convolutions 'mkl'.*eigen, xla_default"):
        compile_options.compiler_options('mkl', 'cpu')


def test_option_xla_rejects_falls_back_with_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        accepted = compile_options._cpu_compiler_accepts(((compile_options.YNN_FUSION_OPTION, 'NO_SUCH_TYPE'),))
    assert not accepted
    assert any('NO_SUCH_TYPE' in str(w.message) and w.category is RuntimeWarning for w in caught)

"""The VAE family: the bound's terms against closed forms and scipy, the ELBO against an exact
log-likelihood, the games' losses and gradients, and short trainings (beta-VAE, CVAE)."""
import math

import jax
import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from gans import data, elbo, losses
from gans.config import base_config
from gans.games import build_game
from gans.games.base import GENERATOR_INPUTS
from gans.games.vae import VAEGANGame, VAEGame, bound_terms, feature_reconstruction
from gans.inference.runs import write_samples
from gans.engine.loop import make_data_iterator
from gans.models.vae import VAE, ConvDecoder, ConvEncoder, IdleDiscriminator, MLPDecoder, MLPEncoder
from gans.engine.state import create_state
from gans.engine.step import make_train_step


# ---------------------------------------------------------------------------------------------
# The bound's terms.

def test_kl_matches_the_analytic_formula_on_known_values_and_is_zero_at_the_prior():
    # KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, 4) || N(0, 1)) = 1/2 (4 - 1 - ln 4); dimensions add.
    mean = jnp.array([[1.0, 0.0], [0.0, 0.0]])
    log_var = jnp.array([[0.0, math.log(4.0)], [0.0, 0.0]])
    np.testing.assert_allclose(elbo.gaussian_kl(mean, log_var), [0.5 + 0.5 * (3 - math.log(4.0)), 0.0], rtol=1e-6)
    assert float(elbo.gaussian_kl(jnp.zeros((1, 5)), jnp.zeros((1, 5)))[0]) == 0.0


def test_kl_matches_a_monte_carlo_estimate():
    mean, log_var = jnp.array([[0.7, -1.2, 0.1]]), jnp.array([[-1.0, 0.5, 0.0]])
    std = np.exp(0.5 * np.asarray(log_var[0]))
    z = np.asarray(mean[0]) + std * np.random.default_rng(0).standard_normal((400_000, 3))
    log_ratio = (stats.norm.logpdf(z, np.asarray(mean[0]), std) - stats.norm.logpdf(z)).sum(axis=1)
    estimate, error = log_ratio.mean(), log_ratio.std() / math.sqrt(len(log_ratio))
    assert abs(float(elbo.gaussian_kl(mean, log_var)[0]) - estimate) < 4 * error


def test_reparameterised_samples_have_the_requested_mean_and_variance():
    num = 200_000
    mean, var = np.array([2.0, -1.0, 0.0]), np.array([0.25, 9.0, 1.0])
    z = elbo.reparameterize(jax.random.key(0), jnp.broadcast_to(mean, (num, 3)),
                            jnp.broadcast_to(np.log(var), (num, 3)))
    # Tolerance: 5 standard errors of the sample mean (sqrt(var / n)) and of the sample variance
    # (var * sqrt(2 / n) for a normal).
    np.testing.assert_array_less(np.abs(np.asarray(z.mean(0)) - mean), 5 * np.sqrt(var / num))
    np.testing.assert_array_less(np.abs(np.asarray(z.var(0)) - var), 5 * var * np.sqrt(2 / num))
    # Differentiable: dz/dmean = 1 and dz/dlog_var = sigma eps / 2 = (z - mean) / 2.
    m, lv = jnp.array([[0.3]]), jnp.array([[0.8]])
    key = jax.random.key(1)
    sample = float(elbo.reparameterize(key, m, lv)[0, 0])
    np.testing.assert_allclose(jax.grad(lambda a: elbo.reparameterize(key, a, lv).sum())(m), [[1.0]])
    np.testing.assert_allclose(jax.grad(lambda b: elbo.reparameterize(key, m, b).sum())(lv),
                               [[(sample - 0.3) / 2]], rtol=1e-5)


def test_bernoulli_log_likelihood_against_scipy_and_the_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4, 2, 3, 1)).astype(np.float32)
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    binary = rng.integers(0, 2, logits.shape)
    expected = stats.bernoulli.logpmf(binary, probs).reshape(4, -1).sum(1)
    np.testing.assert_allclose(elbo.bernoulli_log_likelihood(logits, 2.0 * binary - 1.0), expected, rtol=1e-5)
    grey = rng.uniform(0, 1, logits.shape)
    cross_entropy = (grey * np.log(probs) + (1 - grey) * np.log1p(-probs)).reshape(4, -1).sum(1)
    np.testing.assert_allclose(elbo.bernoulli_log_likelihood(logits, 2.0 * grey - 1.0), cross_entropy, rtol=1e-5)
    # Saturated logits stay finite: log sigmoid(-60) = -60 to float precision.
    np.testing.assert_allclose(elbo.bernoulli_log_likelihood(jnp.full((1, 1), 60.0), -jnp.ones((1, 1))), [-60.0])


def test_gaussian_log_likelihood_against_scipy_with_shared_and_per_pixel_scales():
    rng = np.random.default_rng(1)
    x, mean = rng.normal(size=(3, 4, 4, 1)).astype(np.float32), rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    expected = stats.norm.logpdf(x, mean, 0.3).reshape(3, -1).sum(1)
    np.testing.assert_allclose(elbo.gaussian_log_likelihood(mean, x, math.log(0.3)), expected, rtol=1e-5)
    scales = rng.uniform(0.1, 2.0, (4, 4, 1)).astype(np.float32)
    expected = stats.norm.logpdf(x, mean, scales).reshape(3, -1).sum(1)
    np.testing.assert_allclose(elbo.gaussian_log_likelihood(mean, x, np.log(scales)), expected, rtol=1e-5)
    np.testing.assert_allclose(elbo.log_likelihood('gaussian', mean, x, np.log(scales)), expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"unknown decoder 'laplace' .*; valid: \['bernoulli', 'gaussian'\]"):
        elbo.log_likelihood('laplace', mean, x)


def test_beta_schedule_warms_up_linearly_then_stays():
    assert [float(elbo.beta_schedule(s, 4.0, 100)) for s in (0, 25, 100, 1000)] == [0.0, 1.0, 4.0, 4.0]
    assert float(elbo.beta_schedule(12345, 0.5)) == 0.5
    with pytest.raises(ValueError, match='warmup'):
        elbo.beta_schedule(0, 1.0, -1)


# ---------------------------------------------------------------------------------------------
# The ELBO against an exact log-likelihood: a linear-Gaussian model p(z) = N(0, I),
# p(x|z) = N(W z + b, s^2 I), whose marginal N(b, W W^T + s^2 I) and posterior are known. W has
# orthogonal columns, so the exact posterior is diagonal, within the encoder's family.

def _linear_gaussian():
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 2)))
    w, b, noise = q * np.array([1.5, 0.6]), np.array([0.2, -0.4, 0.1]), 0.5
    x = np.array([0.9, -1.3, 0.4])
    log_px = stats.multivariate_normal(b, w @ w.T + noise ** 2 * np.eye(3)).logpdf(x)
    post_var = 1 / (1 + (w ** 2).sum(0) / noise ** 2)
    post_mean = post_var * (w.T @ (x - b)) / noise ** 2
    return w, b, noise, x, log_px, post_mean, post_var


def _mc_bounds(mean, var, num=200_000):
    w, b, noise, x, _, _, _ = _linear_gaussian()
    mean, log_var = jnp.asarray(mean[None], jnp.float32), jnp.asarray(np.log(var)[None], jnp.float32)
    z = jax.vmap(lambda k: elbo.reparameterize(k, mean, log_var))(jax.random.split(jax.random.key(0), num))
    decoded = jnp.einsum('kni,ji->knj', z, jnp.asarray(w, jnp.float32)) + jnp.asarray(b, jnp.float32)
    xs = jnp.broadcast_to(jnp.asarray(x, jnp.float32), decoded.shape)
    ll = jax.vmap(lambda d, xx: elbo.gaussian_log_likelihood(d, xx, math.log(noise)))(decoded, xs)  # [K, 1]
    kl = elbo.gaussian_kl(mean, log_var)
    return ll, z, mean, log_var, float(elbo.elbo(ll.mean(0), kl)[0])


def test_elbo_equals_log_px_when_the_encoder_is_the_exact_posterior():
    *_, log_px, post_mean, post_var = _linear_gaussian()
    ll, z, mean, log_var, bound = _mc_bounds(post_mean, post_var)
    # Every sample's log weight log p(x|z) + log p(z) - log q(z|x) is log p(x) exactly, so the
    # importance-weighted bound is log p(x) even from 8 samples...
    weights = ll[:8, 0] + elbo.gaussian_log_density(z[:8, 0], 0 * z[:8, 0], 0 * z[:8, 0]) - \
        jax.vmap(lambda zk: elbo.gaussian_log_density(zk, mean, log_var))(z[:8])[:, 0]
    np.testing.assert_allclose(weights, np.full(8, log_px), rtol=1e-5)
    np.testing.assert_allclose(elbo.importance_weighted_bound(ll[:8], z[:8], mean, log_var), [log_px], rtol=1e-5)
    # ...and the Monte-Carlo ELBO (closed-form KL) reaches it within its sampling error.
    assert abs(bound - log_px) < 0.01


def test_elbo_falls_short_of_log_px_by_the_kl_to_the_exact_posterior():
    *_, log_px, post_mean, post_var = _linear_gaussian()
    q_mean, q_var = post_mean + np.array([0.4, -0.3]), post_var * np.array([2.0, 0.5])
    gap = 0.5 * np.sum(q_var / post_var + (q_mean - post_mean) ** 2 / post_var - 1 - np.log(q_var / post_var))
    ll, z, mean, log_var, bound = _mc_bounds(q_mean, q_var)
    assert bound < log_px
    assert abs(bound - (log_px - gap)) < 0.01
    iwae = float(elbo.importance_weighted_bound(ll[:64], z[:64], mean, log_var)[0])
    assert bound < iwae < log_px


# ---------------------------------------------------------------------------------------------
# Networks and games.

def _vae(num_classes=0, decoder='bernoulli', scale=None, size=16, latent=3):
    return VAE(ConvEncoder(latent, size, 1, 4, num_classes), ConvDecoder(size, 1, 4, num_classes),
               (size, size, 1), decoder, scale)


def test_init_creates_encoder_and_decoder_and_calling_decodes_to_images():
    z = jax.random.normal(jax.random.key(1), (2, 3))
    gaussian, bern = _vae(decoder='gaussian'), _vae()

    @jax.jit
    def run(z):
        g_params = gaussian.init(jax.random.key(0), z)['params']
        b_params = bern.init(jax.random.key(0), z)['params']
        return (g_params, gaussian.apply({'params': g_params}, z),
                gaussian.apply({'params': g_params}, z, method='decode'),
                b_params, bern.apply({'params': b_params}, z), bern.apply({'params': b_params}, z, method='decode'))

    g_params, g_images, g_out, b_params, b_images, b_logits = run(z)
    assert set(g_params) == {'encoder', 'decoder', 'log_scale'}
    np.testing.assert_array_equal(g_images, g_out)  # Gaussian: the mean itself
    assert set(b_params) == {'encoder', 'decoder'}
    np.testing.assert_allclose(b_images, 2 * jax.nn.sigmoid(b_logits) - 1, atol=1e-6)
    with pytest.raises(ValueError, match='needs labels'):
        jax.eval_shape(_vae(num_classes=10).init, jax.random.key(0), z)
    mlp = VAE(MLPEncoder((4, 4, 1), 3, (8,)), MLPDecoder((4, 4, 1), (8,)), (4, 4, 1))
    variables = jax.eval_shape(mlp.init, jax.random.key(0), z)
    assert variables['params']['encoder']['heads']['mean']['kernel'].shape == (8, 3)  # hidden (8,)


DIGITS16 = data.dataset_spec('digits', image_size=16)


def _config(game, section=(), **fields):
    """A 16-px digits config with small MLP networks (they compile in a fraction of the conv time;
    the conv pair is tested above and in test_reconstruction's round trip). `section`: fields of
    config.<game>; `fields`: engine fields."""
    config = base_config(game, 'mlp')
    config.update(dataset='digits', num_steps=1, image_size=16, batch_size=8)
    config[game].latent_dim = 3
    config.generator.hidden = config.discriminator.hidden = (32,)
    if 'num_classes' in config[game]:
        config[game].num_classes = 10
    config[game].update(dict(section))
    config.update(**fields)
    return config


def _state(setup, num_examples=1):
    game, generator, discriminator = setup[:3]
    init = jax.jit(lambda key: create_state(generator, discriminator, optax.adam(1e-3), optax.adam(1e-3), key,
                                            game.sample_latents(jax.random.key(1), 1),
                                            jnp.zeros((num_examples, 16, 16, 1))))
    return game, init(jax.random.key(0))


def test_vae_loss_is_the_negative_elbo_and_the_discriminator_step_is_a_no_op():
    game, state = _state(build_game(_config('vae'), DIGITS16))
    assert isinstance(game, VAEGame) and isinstance(state.discriminator.network, IdleDiscriminator)
    assert state.discriminator.params == {}
    x = jax.random.uniform(jax.random.key(2), (8, 16, 16, 1), minval=-1, maxval=1)
    key = jax.random.key(3)

    @jax.jit
    def loss_and_by_hand(state):
        g = state.generator
        loss, (metrics, _, _) = game.g_loss(g.params, state, {'x': x}, key)
        # By hand: encoder, one reparameterised z (the key as bound_terms splits it), decoder logits.
        mean, log_var = g.network.apply({'params': g.params}, x, method='encode')
        z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.split(key, 1)[0], mean.shape)
        return loss, metrics, mean, log_var, g.network.apply({'params': g.params}, z, method='decode')

    loss, metrics, mean, log_var, logits = loss_and_by_hand(state)
    mean, log_var, logits = (np.asarray(a, np.float64) for a in (mean, log_var, logits))
    t = (np.asarray(x, np.float64) + 1) / 2
    ll = (t * logits - np.logaddexp(0, logits)).reshape(8, -1).sum(1)
    kl = 0.5 * (np.exp(log_var) + np.square(mean) - 1 - log_var).sum(1)
    np.testing.assert_allclose(loss, np.mean(kl - ll), rtol=1e-5)
    np.testing.assert_allclose(metrics['elbo'], -np.mean(kl - ll), rtol=1e-5)
    np.testing.assert_allclose(metrics['elbo'], -metrics['reconstruction'] - metrics['kl'], rtol=1e-6)
    # One engine step moves the VAE and leaves the parameterless discriminator as it was.
    new, step_metrics = jax.jit(make_train_step(game))(state, {'x': x}, jax.random.key(4))
    assert new.discriminator.params == {} and int(new.step) == 1 and 'd_loss' not in step_metrics
    assert not np.allclose(new.generator.params['encoder']['heads']['mean']['kernel'],
                           state.generator.params['encoder']['heads']['mean']['kernel'])


def test_unknown_vae_settings_name_the_valid_ones():
    with pytest.raises(ValueError, match=r"valid: \['bernoulli', 'gaussian'\]"):
        build_game(_config('vae', {'decoder': 'poisson'}), DIGITS16)
    with pytest.raises(ValueError, match=r"valid models: \['dcgan', 'mlp'\]"):
        config = _config('vae')
        config.model = 'resnet'  # a model the VAE games cannot build (the mlp sections stay)
        build_game(config, DIGITS16)
    # d_steps is the step's option now: the game refuses it when the step is made (game.check_step).
    with pytest.raises(ValueError, match='d_steps must be 1'):
        config = _config('vae')
        config.optim.d_steps = 2
        make_train_step(build_game(config, DIGITS16).game, d_steps=config.optim.d_steps)
    with pytest.raises(ValueError, match="valid: .*'nonsaturating'"):
        build_game(_config('vaegan', {'loss': 'wgan_gp'}), DIGITS16)


class BatchNormMLPDiscriminator(nn.Module):
    """A small D with batch norm and `return_features`, the interface VAE-GAN uses."""

    @nn.compact
    def __call__(self, x, train=True, return_features=False):
        h = nn.Dense(16)(x.reshape(x.shape[0], -1))
        h = nn.leaky_relu(nn.BatchNorm(use_running_average=not train)(h), 0.2)
        logits = nn.Dense(1)(h)[:, 0]
        return (logits, h) if return_features else logits


def test_vaegan_gradients_are_the_encoder_and_decoder_losses_of_larsen_et_al():
    """Encoder: grad of beta KL + L_feat; decoder: grad of gamma L_feat + L_GAN (no stop-gradients)."""
    gamma, beta = 0.3, 0.7
    game = VAEGANGame(latent_dim=3, objective=losses.get_objective('nonsaturating'), gamma=gamma, beta=beta)
    module = VAE(MLPEncoder((16, 16, 1), 3, (16,)), MLPDecoder((16, 16, 1), (16,)), (16, 16, 1))
    # Batch norm in D (train mode, as in the game) with an MLP trunk: small, quick to compile.
    disc = BatchNormMLPDiscriminator()
    _, state = _state((game, module, disc), num_examples=2)
    x = jax.random.uniform(jax.random.key(2), (6, 16, 16, 1), minval=-1, maxval=1)
    batch = {'x': x, GENERATOR_INPUTS: jax.random.normal(jax.random.key(5), (6, 3))}
    key = jax.random.key(3)

    def features(images):
        d = state.discriminator
        (logits, feats), _ = disc.apply({'params': d.params, 'batch_stats': d.model_state.get('batch_stats', {})},
                                        images, train=True, return_features=True, mutable=['batch_stats'])
        return logits, feats

    def parts(params):
        terms = bound_terms(module, params, x, None, jax.random.split(key)[0])
        recon_logits, recon_features = features(jnp.tanh(0.5 * terms.outputs[0]))
        prior_logits, _ = features(module.apply({'params': params}, batch[GENERATOR_INPUTS]))
        feature_loss = jnp.mean(0.5 * jnp.sum((features(x)[1] - recon_features) ** 2, -1))
        gan = -jnp.mean(jax.nn.log_sigmoid(recon_logits)) - jnp.mean(jax.nn.log_sigmoid(prior_logits))
        return terms.kl.mean(), feature_loss, gan

    def encoder_loss(params):
        kl, feature_loss, _ = parts(params)
        return beta * kl + feature_loss

    def decoder_loss(params):
        _, feature_loss, gan = parts(params)
        return gamma * feature_loss + gan

    @jax.jit
    def all_gradients(params):
        grads, _ = jax.grad(game.g_loss, has_aux=True)(params, state, batch, key)
        plain = jax.grad(lambda p: sum(parts(p)))(params)['encoder']
        return grads, jax.grad(encoder_loss)(params)['encoder'], jax.grad(decoder_loss)(params)['decoder'], plain

    grads, expected_encoder, expected_decoder, plain = all_gradients(state.generator.params)
    for got, want in ((grads['encoder'], expected_encoder), (grads['decoder'], expected_decoder)):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)
    # The decoder's GAN loss does reach the encoder in the plain sum: the split is not vacuous.
    assert not all(np.allclose(a, b, rtol=1e-3) for a, b in zip(jax.tree.leaves(plain),
                                                                 jax.tree.leaves(expected_encoder)))


def test_feature_reconstruction_is_half_the_squared_distance():
    np.testing.assert_allclose(feature_reconstruction(jnp.array([[1.0, 2.0]]), jnp.array([[0.0, 4.0]])), [2.5])


# ---------------------------------------------------------------------------------------------
# Short trainings on digits.

def _train(config, steps, seed=0):
    game, state = _state(build_game(config, DIGITS16))
    step = jax.jit(make_train_step(game))
    batches = make_data_iterator(config)
    key = jax.random.key(seed)
    for _ in range(steps):
        batch = next(batches)
        state, metrics = step(state, {k: jnp.asarray(v) for k, v in batch.items()}, key)
    return game, state


@pytest.fixture(scope='module')
def test_batch(data_dir):
    from gans.data import make_iterator
    return next(make_iterator('digits', split='test', global_batch_size=300, seed=0, shuffle=False, num_epochs=1,
                              image_size=16, process_index=0, process_count=1))


def test_kl_falls_as_beta_rises(test_batch):
    """beta-VAE: a heavier KL weight leaves less information in z (KL on the test split at the end)."""
    kls = []
    for beta in (0.25, 1.0, 4.0):
        config = _config('vae', {'beta': beta, 'latent_dim': 8}, batch_size=32)
        config.optim.g_lr, config.optim.b1 = 2e-3, 0.9
        _, state = _train(config, 120)
        g = state.generator
        mean, log_var = g.network.apply({'params': g.params}, jnp.asarray(test_batch['x']), method='encode')
        kls.append(float(elbo.gaussian_kl(mean, log_var).mean()))
    assert kls[0] > kls[1] > kls[2], kls


def test_cvae_decodes_different_images_for_different_labels_with_the_same_z(data_dir, tmp_path):
    config = _config('cvae', batch_size=32)
    config.optim.g_lr, config.optim.b1 = 2e-3, 0.9
    game, state = _train(config, 60)
    assert game.num_classes == 10
    z = jnp.broadcast_to(jax.random.normal(jax.random.key(7), (1, 3)), (10, 3))
    images = np.asarray(state.generate({'z': z, 'labels': jnp.arange(10)}))
    distances = np.abs(images[:, None] - images[None]).mean(axis=(2, 3, 4))
    assert distances[~np.eye(10, dtype=bool)].min() > 1e-3, distances
    again = np.asarray(state.generate({'z': z, 'labels': jnp.arange(10)}))
    np.testing.assert_array_equal(images, again)
    # The encoder takes the labels too: the same image under two labels gets two posteriors.
    x = jnp.asarray(np.zeros((2, 16, 16, 1), np.float32))
    g = state.generator
    mean, _ = g.network.apply({'params': g.params}, x, jnp.array([1, 7]), method='encode')
    assert not np.allclose(mean[0], mean[1])
    # `gans sample`'s file carries the labels each image was drawn for.
    path = write_samples(state, game, num=30, seed=0, out=str(tmp_path / 'samples.npz'))
    with np.load(path) as f:
        assert sorted(f.keys()) == ['images', 'labels'] and f['labels'].dtype == np.int32
        assert f['labels'].shape == (30,) and set(f['labels']) <= set(range(10)) and len(set(f['labels'])) > 3

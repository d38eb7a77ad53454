"""Statistics of the masks: binomial kept fraction, unbiased mean, p/(1-p) x^2 variance,
independence of seeds and offsets. All draws are seeded, so the tests are deterministic; the
bounds are wide (6 sigma) so that any correct generator passes for any seed."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastdrop as fd

TWO32 = 1 << 32
A = np.array([0.36, 0.13, 0.42, 0.25])


def keep_probability(p):
    """Exact P(keep) under the contract: 1 - floor(p * 2**32) / 2**32."""
    return 1.0 if p == 0 else 1.0 - math.floor(p * TWO32) / TWO32


@pytest.mark.parametrize("p", [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
def test_kept_fraction_binomial_bound(isa, p):
    n = 10**6
    for seed, offset in [(0, 0), (2**64 - 1, 3), (12345, 2**32 * 4 - 500_000)]:
        keep = fd.dropout_mask(n, p, seed=seed, offset=offset, packed=False)
        q = keep_probability(p)
        sigma = math.sqrt(n * q * (1 - q))
        assert abs(int(keep.sum()) - n * q) <= 6 * sigma, (p, seed, offset)
        # and locally: every 1/8 of the array is within its own bound
        for part in np.array_split(keep, 8):
            m = part.size
            assert abs(int(part.sum()) - m * q) <= 6 * math.sqrt(m * q * (1 - q))


def test_tiny_p_keeps_almost_everything():
    keep = fd.dropout_mask(10**6, 1e-9, seed=1, packed=False)
    # P(drop) = 4 / 2**32: a drop among 10**6 elements has probability ~1e-3
    assert keep.sum() >= 10**6 - 2


def test_mean_over_1000_seeds():
    """The issue's test: outputs are 0 or 2a, and their mean over seeds 0..999 is within 0.02.

    Note: 0.02 is only ~1.5 standard errors for a = 0.42 (se = a / sqrt(1000)), so a correct
    generator fails this bound for about one seed range in four (measured on 200 disjoint
    ranges of 1000 seeds: the z-scores are N(0, 1)). The seeds are fixed, so the test is
    deterministic; the statistically sound versions are the 6-sigma checks below.
    """
    ys = np.array([fd.dropout(A, 0.5, seed=s) for s in range(1000)])
    assert np.all((ys == 0) | (ys == 2 * A)), "outputs must be 0 or x / (1 - p)"
    np.testing.assert_allclose(ys.mean(axis=0), A, atol=0.02)
    # 6 standard errors: any seed range passes
    np.testing.assert_array_less(np.abs(ys.mean(axis=0) - A), 6 * A / np.sqrt(1000))
    # the same with a Generator (consecutive offsets instead of seeds)
    g = fd.Generator(7)
    ys = np.array([fd.dropout(A, 0.5, rng=g) for _ in range(1000)])
    assert np.all((ys == 0) | (ys == 2 * A))
    np.testing.assert_array_less(np.abs(ys.mean(axis=0) - A), 6 * A / np.sqrt(1000))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mean_and_variance_per_element(p):
    """Many independent copies of A in one array: per element, mean -> x and variance ->
    p / (1 - p) x^2, each within 6 standard errors."""
    reps = 250_000
    x = np.tile(A, reps)
    y = fd.dropout(x, p, seed=31337, offset=1).reshape(reps, 4)
    q = keep_probability(p)
    s = 1.0 / (1.0 - p)
    assert np.all((y == 0) | np.isclose(y, s * A, rtol=1e-15))
    mean, var = y.mean(axis=0), y.var(axis=0)
    # exact moments of y = s*x*B, B ~ Bernoulli(q)
    true_mean = s * A * q
    true_var = (s * A) ** 2 * q * (1 - q)
    np.testing.assert_allclose(true_mean, A, rtol=1e-8)
    np.testing.assert_allclose(true_var, p / (1 - p) * A**2, rtol=1e-8)
    se_mean = np.sqrt(true_var / reps)
    mu4 = (s * A) ** 4 * q * (1 - q) * (1 - 3 * q + 3 * q * q)
    # first-order standard error, plus the second-order term that remains when it vanishes
    # (p = 0.5: a symmetric two-point law has mu4 == var**2)
    se_var = np.sqrt(np.maximum(mu4 - true_var**2, 0) / reps) + 6 * true_var / reps
    assert np.all(np.abs(mean - A) <= 6 * se_mean), (mean, A)
    assert np.all(np.abs(var - true_var) <= 6 * se_var), (var, true_var)
    np.testing.assert_allclose(var, p / (1 - p) * A**2, rtol=0.03)


def test_naive_mode_mean():
    """Naive: training keeps x unscaled, so the mean is (1 - p) x = inference output."""
    x = np.tile(A, 250_000)
    y = fd.dropout(x, 0.3, seed=5, mode="naive").reshape(-1, 4)
    assert np.all((y == 0) | (y == A))
    inf = fd.dropout(A, 0.3, mode="naive", training=False)
    np.testing.assert_allclose(y.mean(axis=0), inf, atol=6 * np.sqrt(0.21 / 250_000) * A.max())


def test_different_seeds_and_offsets_give_different_masks():
    n = 4096
    masks = {}
    for seed in (0, 1, 2, 2**32, 2**63):
        for offset in (0, 4, 8, 4096, 2**32 * 4):
            masks[(seed, offset)] = fd.dropout_mask(n, 0.5, seed=seed, offset=offset,
                                                    packed=False)
    keys = list(masks)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            agree = np.mean(masks[a] == masks[b])
            # independent masks agree on half of the elements, +- 6 sigma
            assert abs(agree - 0.5) <= 6 * 0.5 / math.sqrt(n), (a, b, agree)


def test_neighbouring_elements_are_uncorrelated():
    keep = fd.dropout_mask(10**6, 0.5, seed=77, packed=False).astype(np.int8) * 2 - 1
    n = keep.size
    for lag in (1, 2, 3, 4, 8, 64):
        corr = np.mean(keep[:-lag] * keep[lag:])
        assert abs(corr) <= 6 / math.sqrt(n - lag), (lag, corr)
    # the four words of one Philox block
    w = keep.reshape(-1, 4)
    for j in range(1, 4):
        assert abs(np.mean(w[:, 0] * w[:, j])) <= 6 / math.sqrt(w.shape[0])


def test_generator_draws_differ_and_reproduce():
    g = fd.Generator(3)
    a = [fd.dropout_mask(1000, 0.5, rng=g) for _ in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.array_equal(a[i], a[j])
    g = fd.Generator(3)
    for m in a:
        np.testing.assert_array_equal(fd.dropout_mask(1000, 0.5, rng=g), m)

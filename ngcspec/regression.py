"""Iterative Lasso, Ridge and Elastic Net as Hebbian circuits (ngc-learn's regression modules).

ngc-learn's ``Iterative_Lasso``, ``Iterative_Ridge`` and ``Iterative_ElasticNet`` solve a
regularised linear regression with a two-component circuit, and so do these modules: the
circuit is written as ngcspec YAML (:func:`circuit_yaml`) and compiled by ngcspec, and the
classes below give it an estimator face (``fit(X, y)``, ``predict(X)``, ``coef_``,
``thresholding``).

The circuit::

    W   : HebbianSynapse, shape (dict_dim, sys_dim), sign_value -1, w_bound 0,
          weight_init constant(weight_fill), prior (l1 | l2 | elastic_net), optimizer sgd/adam
    err : GaussianErrorCell(sys_dim), sigma 1
    wires   W.outputs -> err.mu,  err.dmu -> W.post
    clamps  W.inputs = X,  W.pre = X,  err.target = y          (one batch holding all samples)
    schedule  [reset, {repeat: epochs, do: [advance, {evolve: [W]}]}, advance]

One advance computes mu = X W and dmu = e = y - X W; the evolve then applies, with
sign_value -1, ``W <- W - lr * optimizer_step(dW)`` with ``dW = -X^T e + lmbda R'(W)``.
The whole fit (all epochs) is **one** compiled call.

Objective (exactly what the update descends; sums over samples, not means)::

    J(W) = 1/2 ||y - X W||_F^2 + lmbda R(W)
    Lasso        R = ||W||_1                                     (gradient lmbda sign W)
    Ridge        R = 1/2 ||W||_F^2                               (gradient lmbda W)
    Elastic net  R = rho ||W||_1 + (1 - rho)/4 ||W||_F^2         (gradient lmbda (rho sign W
                                                                  + (1 - rho)/2 W))

The elastic net's L2 gradient carries ngc-learn's factor 1/2, so its L2 penalty is
``(1 - rho)/4 ||W||^2`` - half of the ``(1 - rho)/2`` one would expect.

Mapping to scikit-learn (n = number of samples; divide J by n, or not, and compare)::

    Iterative_Lasso(lasso_lmbda=lam)          == Lasso(alpha = lam / n)
    Iterative_Ridge(ridge_lmbda=lam)          == Ridge(alpha = lam)          (J = 1/2 sklearn's)
    Iterative_ElasticNet(lmbda=lam, l1_ratio=rho)
        == ElasticNet(alpha = lam (1 + rho) / (2 n), l1_ratio = 2 rho / (1 + rho))

(The elastic-net mapping needs both numbers changed: sklearn's "same alpha = lam/n, same
l1_ratio" solves a problem with twice ngc-learn's L2 penalty.) ``fit_intercept`` maps to
sklearn's ``fit_intercept`` (see below). :meth:`sklearn_params` returns these numbers.

Deviations from and notes on ngc-learn (see docs/regression.md):

- **One advance per epoch.** ngc-learn scans T = 100 identical advance steps per epoch; W does
  not change inside advance, so all 100 compute the same mu, e and L, and one step is
  equivalent (the update count is ``epochs`` either way). The template adds one advance after
  the last evolve, so ``err.L`` (``L_``) is the loss at the *returned* weights (ngc-learn's
  is from before the last update).
- **Estimator face.** ``fit(X, y)`` (sklearn order; ngc-learn's is ``fit(y, X)``) returns
  ``self``. ``coef_`` has sklearn's layout, (n_features,) for a 1-D y and (n_targets,
  n_features) otherwise; ``weights_`` is ngc-learn's W, (dict_dim, sys_dim).
- **Intercept.** ngc-learn has none (``fit_intercept=False``, the default here too). With
  ``fit_intercept=True`` X and y are centred before the circuit runs and ``intercept_ =
  mean(y) - mean(X) W``, exactly how sklearn's Lasso/Ridge/ElasticNet fit an unpenalised
  intercept. (The shipped diabetes circuits learn the intercept inside the circuit instead,
  with a bias unit; see docs/regression.md.)
- **thresholding(scale=1.0)**: ngc-learn's default scale is 2 for Lasso and Ridge (1 for the
  elastic net), which doubles every surviving coefficient; it looks like a compensation for
  unconverged weights. Here the default is 1 for all three; pass ``scale=2`` for the old
  behaviour.
- **Defaults do not converge.** ngc-learn's defaults (Adam, lr 0.01, 100 epochs) move each
  coefficient by at most about lr per epoch, i.e. about 1 in total. The defaults are kept
  for compatibility, but every fit measures how far W is from the optimum
  (``optimality_``, a relative proximal-gradient norm) and emits a
  :class:`ConvergenceWarning` above ``tol``. ``lr="auto"`` (sgd only) uses
  ``1 / (sigma_max(X)^2 + l2 part)``, the classic safe step.
- **Optional proximal update** (``proximal=True``, sgd only; a deviation): the L1 part is
  not in the synapse's prior but applied after every evolve as a soft threshold
  ``W <- sign(W) max(|W| - lr lmbda rho, 0)``. This is ISTA: it converges to the exact
  minimiser, with exact zeros. The epochs are then a ``lax.scan`` over the circuit's
  compiled batch function (``[reset, advance, {evolve: [W]}]``) with the threshold in
  between, still one compiled call per fit.
- ``batch_size`` must be None or the number of samples (ngc-learn needs the same: its scan
  fixes the batch shape). ``key`` only seeds the run; the weights start at ``weight_fill``.
- Weights and optimizer state persist across ``fit`` calls (ngc-learn's behaviour;
  ``warm_start=False`` starts every fit from ``weight_fill`` with fresh Adam moments).
  Compiled programs are cached by structure (shapes, epochs, optimizer, dtype, proximal), and
  lr and the lambdas are traced parameters (``Circuit.with_params``), so a new lr or lambda
  does not recompile; a new number of epochs does.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ngcspec.components import optimizers

__all__ = ["Iterative_Lasso", "Iterative_Ridge", "Iterative_ElasticNet", "ConvergenceWarning",
           "circuit_yaml", "soft_threshold"]


class ConvergenceWarning(UserWarning):
    """A fit stopped before W reached the optimum of its objective (see ``optimality_``)."""


# ---------------------------------------------------------------------------------------------
# the circuit template


def _yaml_float(v: float) -> str:
    return repr(float(v))


def circuit_yaml(*, name: str = "iterative-regression", sys_dim: int, dict_dim: int,
                 epochs: int, prior: tuple[str, float, float] = ("none", 0.0, 0.5),
                 lr: float = 0.01, optim_type: str = "adam", weight_fill: float = 0.05,
                 data: dict[str, Any], dtype: str = "float32", intercept_lr: float | None = None,
                 per_epoch: bool = False, steps_per_epoch: int = 1,
                 check_finite: bool = True) -> str:
    """The regression circuit as ngcspec YAML text.

    ``prior`` is ``(name, lmbda, l1_ratio)`` with name ``l1``, ``l2``, ``elastic_net`` or
    ``none``. ``data`` is the data source mapping (``{"file": path, "batch_size": n}`` or
    ``{"dataset": "diabetes", "split": "all", "batch_size": 442}``); its x is clamped on
    W.inputs and W.pre, its y on err.target. ``intercept_lr`` adds a bias unit: a (1, 1)
    HebbianSynapse ``b`` fed the constant 1 and learning from err.dmu with that rate (no
    prior: an unpenalised intercept). ``per_epoch`` gives the schedule of one epoch,
    ``[reset, advance, {evolve: [W]}]``, for a loop that does more between epochs (the
    proximal variant); otherwise the schedule runs all ``epochs`` and ends with one advance
    so that err.L is the loss at the final weights. ``steps_per_epoch`` advances per epoch
    (ngc-learn uses 100; all of them compute the same values, so 1 is equivalent and the
    default: kept for the benchmark that measures the difference).
    """
    pname, lmbda, l1_ratio = prior
    prior_txt = f"{{name: {pname}, lmbda: {_yaml_float(lmbda)}"
    prior_txt += f", l1_ratio: {_yaml_float(l1_ratio)}}}" if pname == "elastic_net" else "}"
    src = ", ".join(f"{k}: {json.dumps(v) if isinstance(v, str) else v}" for k, v in data.items())
    plastic = "[W, b]" if intercept_lr is not None else "[W]"
    lines = [
        "ngcspec: 1",
        f"name: {json.dumps(name)}",
        f"dtype: {dtype}",
        "data:",
        f"  train: {{{src}}}",
        "components:",
        f"  W: {{kind: HebbianSynapse, shape: [{dict_dim}, {sys_dim}], eta: {_yaml_float(lr)}, "
        f"sign_value: -1.0, w_bound: 0.0,",
        f"      weight_init: {{dist: constant, value: {_yaml_float(weight_fill)}}}, "
        f"prior: {prior_txt}, optim_type: {optim_type}}}",
    ]
    if intercept_lr is not None:
        lines += [
            f"  b: {{kind: HebbianSynapse, shape: [1, {sys_dim}], "
            f"eta: {_yaml_float(intercept_lr)}, sign_value: -1.0, w_bound: 0.0,",
            "      weight_init: {dist: constant, value: 0.0}, optim_type: sgd}",
        ]
    lines += [
        f"  err: {{kind: GaussianErrorCell, n_units: {sys_dim}}}",
        "wires:",
        "  - W.outputs -> err.mu",
        "  - err.dmu -> W.post",
    ]
    if intercept_lr is not None:
        lines += ["  - b.outputs -> err.mu", "  - err.dmu -> b.post"]
    lines += ["clamps:", "  W.inputs: train.x", "  W.pre: train.x", "  err.target: train.y"]
    if intercept_lr is not None:
        lines += ["  b.inputs: 1.0", "  b.pre: 1.0"]
    adv = "advance" if steps_per_epoch == 1 else f"{{advance: {int(steps_per_epoch)}}}"
    if per_epoch:
        lines += ["schedule:", "  - reset", f"  - {adv}", f"  - evolve: {plastic}"]
    else:
        lines += ["schedule:", "  - reset", f"  - repeat: {int(epochs)}",
                  f"    do: [{adv}, {{evolve: {plastic}}}]", "  - advance"]
    lines += [
        "phases:",
        "  fit:",
        "    data: train",
        "    metrics: {L: {mean: err.L}}",
        "    record: {err.L: final}     # kept in the returned state: the loss at the weights",
        f"run: {{epochs: 1, check_finite: {str(check_finite).lower()}}}",
    ]
    return "\n".join(lines) + "\n"


def soft_threshold(w, thr):
    """sign(w) * max(|w| - thr, 0): the proximal map of thr * ||w||_1."""
    from ngcspec.lazy import jnp
    return jnp.sign(w) * jnp.maximum(jnp.abs(w) - thr, 0.0)


# ---------------------------------------------------------------------------------------------
# compiled programs, shared by every module with the same structure


class _Compiled:
    """A loaded circuit and its jitted fit function (reused while the structure holds)."""

    def __init__(self, circuit, fit_fn):
        self.circuit = circuit
        self.fit_fn = fit_fn
        self.calls = 0


_CACHE: "OrderedDict[tuple, _Compiled]" = OrderedDict()
_CACHE_SIZE = 16


def _build(key: tuple, X: np.ndarray, y: np.ndarray, yaml_kwargs: dict, proximal: bool,
           epochs: int) -> _Compiled:
    import ngcspec
    from ngcspec.lazy import jax, jnp, lax

    with tempfile.TemporaryDirectory(prefix="ngcspec-regression-") as tmp:
        path = Path(tmp) / "fit.npz"
        np.savez(path, x=X, y=y)
        text = circuit_yaml(data={"file": str(path), "batch_size": X.shape[0]},
                            per_epoch=proximal, epochs=epochs, **yaml_kwargs)
        circuit = ngcspec.load(text)
    n = X.shape[0]
    if not proximal:
        epoch = circuit.epoch_fn("fit")

        def fit(params, state, data, seed, thr):
            state, outs = epoch(params, state, data, seed, 0)
            return state
    else:
        batch = circuit.batch_fn("fit")
        step = circuit.step

        def fit(params, state, data, seed, thr):
            key = jax.random.PRNGKey(seed)

            def body(state, _):
                state, _ = batch(params, state, data, key, n)
                w = state["W"]["weights"]
                return {**state, "W": {**state["W"], "weights": soft_threshold(w, thr)}}, None

            state, _ = lax.scan(body, state, None, length=epochs)
            # one more advance, so err.L is the loss at the final weights (no evolve)
            return step(params, state, jnp.zeros((), jnp.int32), key)

    compiled = _Compiled(circuit, jax.jit(fit))
    _CACHE[key] = compiled
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return compiled


# ---------------------------------------------------------------------------------------------
# the estimator face


def _seed_of(key) -> int:
    if key is None:
        return 0
    if isinstance(key, (int, np.integer)):
        return int(key) % 2**32
    try:  # a JAX PRNG key (raw uint32 pair or typed key)
        from ngcspec.lazy import jax
        if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
    except Exception:  # pragma: no cover - anything array-like will do
        pass
    return int(np.asarray(key).ravel()[-1]) % 2**32


class _IterativeRegression:
    """Shared machinery; see the module docstring and the three subclasses."""

    _family = "none"            # l1, l2 or elastic_net
    _default_threshold = 0.001

    def __init__(self, key=None, name: str = "iterative-regression", sys_dim: int = 1,
                 dict_dim: int = 1, batch_size: int | None = None, weight_fill: float = 0.05,
                 lr: float | str = 0.01, optim_type: str = "adam",
                 threshold: float | None = None, epochs: int = 100, *,
                 fit_intercept: bool = False, proximal: bool = False, warm_start: bool = True,
                 dtype: str = "float32", tol: float = 1e-3, check_finite: bool = True):
        if optim_type not in optimizers.NAMES:
            raise ValueError(f"optim_type {optim_type!r}: use one of {', '.join(optimizers.NAMES)}")
        if proximal and optim_type != "sgd":
            raise ValueError("proximal=True needs optim_type='sgd' (a soft threshold of "
                             "lr * lmbda after a plain gradient step is ISTA; after an Adam "
                             "step it is not a proximal method)")
        if lr == "auto" and optim_type != "sgd":
            raise ValueError("lr='auto' is the sgd step 1/L; give Adam a number")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype {dtype!r}: use 'float32' or 'float64'")
        if int(epochs) < 1:
            raise ValueError("epochs must be at least 1")
        self.key = key
        self.name = name
        self.sys_dim = int(sys_dim)
        self.dict_dim = int(dict_dim)
        self.batch_size = batch_size
        self.weight_fill = float(weight_fill)
        self.lr = lr
        self.optim_type = optim_type
        self.threshold = self._default_threshold if threshold is None else float(threshold)
        self.epochs = int(epochs)
        self.fit_intercept = bool(fit_intercept)
        self.proximal = bool(proximal)
        self.warm_start = bool(warm_start)
        self.dtype = dtype
        self.tol = float(tol)
        self.check_finite = bool(check_finite)
        self._state = None
        self._state_n = None
        self._compiled: _Compiled | None = None

    # -- the objective ------------------------------------------------------------------------
    def _lambdas(self) -> tuple[float, float, float]:
        """(lmbda, l1 strength, l2 *gradient* coefficient) of R's gradient l1 sign W + l2 W."""
        raise NotImplementedError

    def _prior(self) -> tuple[str, float, float]:
        raise NotImplementedError

    def penalty(self, W) -> float:
        """lmbda R(W), the regulariser of the objective J (ngc-learn's R, see module doc)."""
        _, l1, l2 = self._lambdas()
        W = np.asarray(W, np.float64)
        return float(l1 * np.abs(W).sum() + 0.5 * l2 * (W * W).sum())

    def sklearn_params(self, n_samples: int) -> tuple[str, dict]:
        """(scikit-learn estimator name, its keyword arguments) minimising the same objective
        (divided by n_samples for Lasso/ElasticNet) on the same data."""
        raise NotImplementedError

    # -- fit ----------------------------------------------------------------------------------
    def _check_xy(self, X, y):
        X = np.asarray(X, np.float64)
        y = np.asarray(y, np.float64)
        if X.ndim != 2 or X.shape[1] != self.dict_dim:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, "
                             f"dict_dim={self.dict_dim})")
        one_d = y.ndim == 1
        y2 = y[:, None] if one_d else y
        if y2.ndim != 2 or y2.shape != (X.shape[0], self.sys_dim):
            raise ValueError(f"y has shape {y.shape}; expected ({X.shape[0]},) or "
                             f"({X.shape[0]}, sys_dim={self.sys_dim})")
        if self.batch_size is not None and int(self.batch_size) != X.shape[0]:
            raise ValueError(
                f"batch_size={self.batch_size} but X has {X.shape[0]} samples: the circuit "
                "fits one batch holding all samples (ngc-learn needs the same); pass "
                "batch_size=None or the number of samples")
        if not (np.isfinite(X).all() and np.isfinite(y2).all()):
            raise ValueError("X and y must be finite")
        return X, y2, one_d

    def _lr(self, Xc) -> float:
        if self.lr == "auto":
            _, _, l2 = self._lambdas()
            return 1.0 / (np.linalg.norm(Xc, 2) ** 2 + l2)
        return float(self.lr)

    def _program(self, Xc, yc) -> _Compiled:
        n = Xc.shape[0]
        pname, _, l1_ratio = self._prior()
        if self.proximal:  # the L1 part leaves the synapse's prior; the soft threshold does it
            pname = "l2" if self._family == "elastic_net" else "none"
        key = (n, self.dict_dim, self.sys_dim, self.epochs, self.optim_type, self.dtype,
               self.proximal, pname, self.weight_fill, self.check_finite)
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        kwargs = dict(name=self.name, sys_dim=self.sys_dim, dict_dim=self.dict_dim,
                      prior=(pname, 0.0, l1_ratio), lr=0.0, optim_type=self.optim_type,
                      weight_fill=self.weight_fill, dtype=self.dtype,
                      check_finite=self.check_finite)
        return _build(key, Xc, yc, kwargs, self.proximal, self.epochs)

    def _numeric_params(self, lr: float) -> tuple[dict, float]:
        lmbda, l1, l2 = self._lambdas()
        upd: dict[str, float] = {"W.eta": lr}
        if self.proximal:
            upd["W.prior.lmbda"] = l2      # l2 prior gradient lmbda W (elastic net) or unused
            return upd, lr * l1
        upd["W.prior.lmbda"] = lmbda
        if self._family == "elastic_net":
            upd["W.prior.l1_ratio"] = self.l1_ratio
        return upd, 0.0

    def fit(self, X, y) -> "_IterativeRegression":
        """Run the circuit for ``epochs`` weight updates on all samples; returns self."""
        from ngcspec.compiler import precision
        from ngcspec.errors import RunError
        from ngcspec.lazy import jax, jnp

        X, y2, one_d = self._check_xy(X, y)
        if self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), y2.mean(axis=0)
        else:
            x_mean, y_mean = np.zeros(X.shape[1]), np.zeros(y2.shape[1])
        Xc, yc = X - x_mean, y2 - y_mean
        lr = self._lr(Xc)
        compiled = self._program(Xc, yc)
        upd, thr = self._numeric_params(lr)
        circuit = compiled.circuit.with_params(**upd)
        n = X.shape[0]
        seed = _seed_of(self.key)
        with precision(self.dtype):
            if self.warm_start and self._state is not None and self._state_n == n \
                    and self._compiled is compiled:
                state = self._state
            else:
                state = circuit.init_state(batch_size=n, seed=seed)
                if self.warm_start and self._state is not None:
                    # another program (n, epochs, dtype, ...): carry what persists in W
                    old = self._state["W"]
                    state = {**state, "W": {**state["W"], **{
                        k: jnp.asarray(old[k], state["W"][k].dtype)
                        for k in ("weights", "opt_count", "opt_mW", "opt_vW")}}}
            dt = jnp.dtype(self.dtype)
            data = {"x": jnp.asarray(Xc, dt), "y": jnp.asarray(yc, dt)}
            state = compiled.fit_fn(circuit.params, state, data, seed, jnp.asarray(thr, dt))
            state = jax.block_until_ready(state)
        compiled.calls += 1
        W = np.asarray(state["W"]["weights"], np.float64)
        if self.check_finite and not np.isfinite(W).all():
            bound = 2.0 / (np.linalg.norm(Xc, 2) ** 2)
            raise RunError(
                f"{type(self).__name__}: the weights became non-finite (NaN or Inf) during "
                f"fit; lr={lr:g} is too large" + (f" (sgd diverges above 2/sigma_max(X)^2 = "
                                                   f"{bound:.4g}; try lr='auto')"
                                                   if self.optim_type == "sgd" else ""))
        self._state, self._state_n, self._compiled = state, n, compiled
        self._one_d = one_d
        self._x_mean, self._y_mean = x_mean, y_mean
        self.n_iter_ = self.epochs
        self.lr_ = lr
        self.L_ = float(np.asarray(state["err"]["L"]))
        self._set_weights_attrs(W)
        self.objective_ = float(-self.L_ + self.penalty(W))
        self.optimality_ = self._optimality(Xc, yc, W)
        if self.optimality_ > self.tol:
            warnings.warn(
                f"{type(self).__name__} did not converge: relative optimality "
                f"{self.optimality_:.3g} > tol={self.tol:g} after {self.epochs} epochs "
                f"(optim_type={self.optim_type!r}, lr={lr:g}). Raise epochs, or use "
                "optim_type='sgd' with lr='auto' (proximal=True for exact L1 zeros).",
                ConvergenceWarning, stacklevel=2)
        return self

    def _set_weights_attrs(self, W: np.ndarray) -> None:
        self.weights_ = W
        self.coef_ = W[:, 0].copy() if self._one_d else W.T.copy()
        icpt = self._y_mean - self._x_mean @ W
        self.intercept_ = (float(icpt[0]) if self._one_d else icpt) if self.fit_intercept \
            else (0.0 if self._one_d else np.zeros(self.sys_dim))

    def _optimality(self, Xc, yc, W) -> float:
        """||G|| / ||X^T y|| with G the proximal-gradient map at step 1/L: zero exactly at the
        minimiser of J, and small when W is close to it (also for a subgradient method whose
        zero coefficients hover around 0)."""
        _, l1, l2 = self._lambdas()
        grad = Xc.T @ (Xc @ W - yc) + l2 * W
        L = np.linalg.norm(Xc, 2) ** 2 + l2
        z = W - grad / L
        prox = np.sign(z) * np.maximum(np.abs(z) - l1 / L, 0.0)
        g = L * (W - prox)
        scale = max(np.linalg.norm(Xc.T @ yc), np.finfo(float).tiny)
        return float(np.linalg.norm(g) / scale)

    # -- after fit ----------------------------------------------------------------------------
    def _need_fit(self):
        if self._state is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(X, y)")

    def predict(self, X):
        """X @ W + intercept_: (n,) for a model fitted on a 1-D y, else (n, sys_dim)."""
        self._need_fit()
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[1] != self.dict_dim:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, {self.dict_dim})")
        out = X @ self.weights_ + (self._y_mean - self._x_mean @ self.weights_
                                   if self.fit_intercept else 0.0)
        return out[:, 0] if self._one_d else out

    def thresholding(self, scale: float = 1.0):
        """Zero every coefficient with |w| < threshold; returns (coef_, old coef_).

        The circuit's W keeps the thresholded, unscaled values (a later fit continues from
        them); ``coef_`` becomes thresholded * scale. ngc-learn's default scale is 2 for
        Lasso and Ridge: pass ``scale=2`` to reproduce it."""
        from ngcspec.compiler import precision
        from ngcspec.lazy import jnp

        self._need_fit()
        old = self.coef_.copy()
        W = np.where(np.abs(self.weights_) >= self.threshold, self.weights_, 0.0)
        with precision(self.dtype):
            w_dev = jnp.asarray(W, self._state["W"]["weights"].dtype)
        self._state = {**self._state, "W": {**self._state["W"], "weights": w_dev}}
        self._set_weights_attrs(W)
        self.coef_ = self.coef_ * scale
        return self.coef_, old

    @property
    def circuit(self):
        """The compiled ngcspec circuit of the last fit (its data source holds the samples
        of the fit that built the program; fits pass their own data)."""
        return None if self._compiled is None else self._compiled.circuit

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dict_dim={self.dict_dim}, sys_dim={self.sys_dim}, "
                f"lr={self.lr!r}, optim_type={self.optim_type!r}, epochs={self.epochs}, "
                f"{self._lmbda_repr()})")

    def _lmbda_repr(self) -> str:
        raise NotImplementedError


class Iterative_Lasso(_IterativeRegression):
    """Iterative Lasso: W minimises 1/2 ||y - X W||^2 + lasso_lmbda ||W||_1 (sums over samples).

    scikit-learn equivalent: ``Lasso(alpha=lasso_lmbda / n_samples)``. Parameters as
    ngc-learn's (key, name, sys_dim, dict_dim, batch_size, weight_fill=0.05, lr=0.01,
    lasso_lmbda=1e-4, optim_type='adam', threshold=0.001, epochs=100), plus keyword-only
    fit_intercept, proximal, warm_start, dtype, tol, check_finite (module docstring).
    """

    _family = "l1"
    _default_threshold = 0.001

    def __init__(self, key=None, name: str = "iterative-lasso", sys_dim: int = 1,
                 dict_dim: int = 1, batch_size: int | None = None, weight_fill: float = 0.05,
                 lr: float | str = 0.01, lasso_lmbda: float = 0.0001, optim_type: str = "adam",
                 threshold: float = 0.001, epochs: int = 100, **kwargs):
        if lasso_lmbda < 0:
            raise ValueError("lasso_lmbda must be >= 0")
        self.lasso_lmbda = float(lasso_lmbda)
        super().__init__(key, name, sys_dim, dict_dim, batch_size, weight_fill, lr, optim_type,
                         threshold, epochs, **kwargs)

    def _prior(self):
        return ("l1", self.lasso_lmbda, 0.5)

    def _lambdas(self):
        return self.lasso_lmbda, self.lasso_lmbda, 0.0

    def sklearn_params(self, n_samples):
        return "Lasso", {"alpha": self.lasso_lmbda / n_samples, "fit_intercept": self.fit_intercept}

    def _lmbda_repr(self):
        return f"lasso_lmbda={self.lasso_lmbda!r}"


class Iterative_Ridge(_IterativeRegression):
    """Iterative Ridge: W minimises 1/2 ||y - X W||^2 + ridge_lmbda/2 ||W||^2.

    scikit-learn equivalent: ``Ridge(alpha=ridge_lmbda)`` (sklearn's objective is twice this
    one, ||y - Xw||^2 + alpha ||w||^2, with no 1/n). Parameters as ngc-learn's (...,
    ridge_lmbda=1e-4, optim_type='adam', threshold=0.001, epochs=100) plus the keyword-only
    options of the module docstring.
    """

    _family = "l2"
    _default_threshold = 0.001

    def __init__(self, key=None, name: str = "iterative-ridge", sys_dim: int = 1,
                 dict_dim: int = 1, batch_size: int | None = None, weight_fill: float = 0.05,
                 lr: float | str = 0.01, ridge_lmbda: float = 0.0001, optim_type: str = "adam",
                 threshold: float = 0.001, epochs: int = 100, **kwargs):
        if ridge_lmbda < 0:
            raise ValueError("ridge_lmbda must be >= 0")
        self.ridge_lmbda = float(ridge_lmbda)
        super().__init__(key, name, sys_dim, dict_dim, batch_size, weight_fill, lr, optim_type,
                         threshold, epochs, **kwargs)

    def _prior(self):
        return ("l2", self.ridge_lmbda, 0.5)

    def _lambdas(self):
        return self.ridge_lmbda, 0.0, self.ridge_lmbda

    def sklearn_params(self, n_samples):
        return "Ridge", {"alpha": self.ridge_lmbda, "fit_intercept": self.fit_intercept}

    def _lmbda_repr(self):
        return f"ridge_lmbda={self.ridge_lmbda!r}"


class Iterative_ElasticNet(_IterativeRegression):
    """Iterative Elastic Net: W minimises
    1/2 ||y - X W||^2 + lmbda (l1_ratio ||W||_1 + (1 - l1_ratio)/4 ||W||^2).

    The 1/4 (not 1/2) is ngc-learn's: its prior gradient is lmbda (l1_ratio sign W +
    (1 - l1_ratio)/2 W). scikit-learn equivalent: ``ElasticNet(alpha=lmbda (1 + l1_ratio) /
    (2 n_samples), l1_ratio=2 l1_ratio / (1 + l1_ratio))``. Parameters as ngc-learn's (...,
    lmbda=1e-4, l1_ratio=0.5, optim_type='adam', threshold=0.05, epochs=100) plus the
    keyword-only options of the module docstring.
    """

    _family = "elastic_net"
    _default_threshold = 0.05

    def __init__(self, key=None, name: str = "iterative-elastic-net", sys_dim: int = 1,
                 dict_dim: int = 1, batch_size: int | None = None, weight_fill: float = 0.05,
                 lr: float | str = 0.01, lmbda: float = 0.0001, l1_ratio: float = 0.5,
                 optim_type: str = "adam", threshold: float = 0.05, epochs: int = 100,
                 **kwargs):
        if lmbda < 0:
            raise ValueError("lmbda must be >= 0")
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError("l1_ratio must be in [0, 1]")
        self.lmbda = float(lmbda)
        self.l1_ratio = float(l1_ratio)
        super().__init__(key, name, sys_dim, dict_dim, batch_size, weight_fill, lr, optim_type,
                         threshold, epochs, **kwargs)

    def _prior(self):
        return ("elastic_net", self.lmbda, self.l1_ratio)

    def _lambdas(self):
        return (self.lmbda, self.lmbda * self.l1_ratio,
                self.lmbda * (1.0 - self.l1_ratio) / 2.0)

    def sklearn_params(self, n_samples):
        rho = self.l1_ratio
        return "ElasticNet", {"alpha": self.lmbda * (1.0 + rho) / (2.0 * n_samples),
                              "l1_ratio": 2.0 * rho / (1.0 + rho),
                              "fit_intercept": self.fit_intercept}

    def _lmbda_repr(self):
        return f"lmbda={self.lmbda!r}, l1_ratio={self.l1_ratio!r}"

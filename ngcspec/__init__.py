"""ngcspec: neural circuits written as YAML, compiled into one jitted JAX program.

    import ngcspec
    circuit = ngcspec.load("circuits/pc_digits_classifier.yaml")
    result = circuit.run()
"""

from ngcspec.errors import CircuitError, NgcspecError, RunError

__version__ = "0.1.0"
__all__ = ["load", "load_run", "load_sweep", "CircuitError", "NgcspecError", "RunError",
           "__version__"]


def load(source, overrides=None):
    """Load and check a circuit (path or YAML text); see :class:`ngcspec.circuit.Circuit`."""
    from ngcspec.circuit import load as _load

    return _load(source, overrides)


def load_run(run_dir):
    """Read a run directory written by ``ngc run`` back (shapes and dtypes checked)."""
    from ngcspec.rundir import load_run as _load_run

    return _load_run(run_dir)


def load_sweep(sweep_dir):
    """Read a sweep directory written by ``ngc sweep`` back (members, table, best state)."""
    from ngcspec.sweepdir import load_sweep as _load_sweep

    return _load_sweep(sweep_dir)

"""Which Keras backend a process trains on (``compute.backend``), and what it can see.

Keras fixes its backend when it is first imported, from the ``KERAS_BACKEND`` environment
variable; ``select_backend`` sets it for this process only (never globally) and refuses
when Keras was already imported with another backend. ``visible_gpus`` asks the chosen
backend which GPUs it sees, for the device a run records. Importing this module imports
neither Keras nor a backend.
"""

from __future__ import annotations

import os
import sys

# compute.backend: the Keras backend training runs on (``workflow/schemas/config.schema.yaml``
# enumerates these keys, tests/test_backend_jax.py checks it). Within one backend the same
# config and seed give the same numbers on the CPU; across backends they differ (other
# generators for the initial weights, the dropout masks and the per_seed orders).
BACKENDS = {
    "tensorflow": "Keras on TensorFlow: the package's reference numbers; blocks of "
                  "minibatches in a tf.while_loop under XLA (reproduce.train.block_steps)",
    "jax": "Keras on JAX, importing no TensorFlow: the shards read by reproduce.data.records, "
           "blocks of minibatches in one jitted lax.scan (reproduce.train.block_steps_jax); "
           "other numbers than TensorFlow's for the same seed",
}
CONFIG_KEY = "compute.backend"


def select_backend(name: str) -> str:
    """Make ``name`` Keras's backend in this process; call it before Keras is imported.

    Args:
        name: "tensorflow" or "jax" (``compute.backend``).

    Returns:
        ``name``.

    Raises:
        ValueError: ``name`` is not a backend of ``BACKENDS``.
        RuntimeError: Keras was already imported with another backend (the backend cannot
            change inside a process).

    Example:

    >>> import subprocess, sys
    >>> code = ("from reproduce.backend import select_backend; select_backend('tensorflow'); "
    ...         "import keras; print(keras.backend.backend())")
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True,
    ...                text=True).stdout.strip()
    'tensorflow'
    """
    if name not in BACKENDS:
        raise ValueError(f"{CONFIG_KEY}: expected one of {', '.join(BACKENDS)}, got {name!r}")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise RuntimeError(
                f"{CONFIG_KEY} is {name!r}, but Keras was already imported in this process "
                f"with the {current!r} backend; the backend is fixed when Keras is first "
                f"imported: select it before anything imports keras (or run a new process)")
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


def active_backend() -> str | None:
    """The backend Keras runs on in this process, or None if Keras is not imported yet."""
    keras = sys.modules.get("keras")
    return keras.backend.backend() if keras is not None else None


def _tensorflow_gpus() -> list[str]:
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return names


def _jax_gpus() -> list[str]:
    import jax

    try:
        devices = jax.devices("gpu")
    except RuntimeError:  # no GPU platform in this jaxlib, or no device
        return []
    return [getattr(d, "device_kind", str(d)) for d in devices]


def visible_gpus(backend: str | None = None) -> list[str]:
    """The names of the GPUs ``backend`` sees (``[]`` on a CPU-only machine).

    Args:
        backend: "tensorflow" or "jax"; None: Keras's active backend.

    Example:

    >>> isinstance(visible_gpus("tensorflow"), list)
    True
    """
    backend = backend or active_backend()
    if backend == "tensorflow":
        return _tensorflow_gpus()
    if backend == "jax":
        return _jax_gpus()
    raise ValueError(f"{CONFIG_KEY}: expected one of {', '.join(BACKENDS)}, got {backend!r}")


def training_device(backend: str | None = None) -> str:
    """What a run records as its device: ``"cpu"``, or ``"gpu: <name>"`` for the first of
    the GPUs ``backend`` sees (the one Keras places the model on)."""
    gpus = visible_gpus(backend)
    return f"gpu: {gpus[0]}" if gpus else "cpu"


def backend_versions(backend: str | None = None) -> dict:
    """The versions a run records: Keras and its backend's packages (jax and jaxlib, or
    tensorflow), importing nothing of the other backend."""
    import keras

    backend = backend or active_backend()
    versions = {"keras": keras.__version__, "backend": backend}
    if backend == "jax":
        import jax
        import jaxlib

        versions |= {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
    elif backend == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` without importing TensorFlow on the JAX backend.

    Keras's own seeds Python's and numpy's generators and Keras's global ``SeedGenerator``,
    and also TensorFlow's whenever TensorFlow is installed, importing it even under JAX
    (seconds of start-up, and a TensorFlow in a process that should have none). On the
    TensorFlow backend this calls Keras's; on JAX it does the same but for TensorFlow.
    """
    import random

    import keras
    import numpy as np

    if not isinstance(seed, int):
        raise ValueError(f"set_random_seed: expected an int seed, got {seed!r}")
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    # the two global attributes keras.utils.set_random_seed resets (Keras 3.15)
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED

    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)

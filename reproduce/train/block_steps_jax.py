"""Many minibatches per compiled call on Keras's JAX backend: a ``lax.scan`` in one jit.

The JAX counterpart of ``reproduce.train.block_steps`` (TensorFlow's ``tf.while_loop``).
Keras 3.15's JAX trainer runs ``steps_per_execution`` as a Python loop around single-step
jitted calls, so every minibatch returns to the host. Here one Keras "batch" is a block
``x[k, b, features]``, ``y[k, b, 1]``, and the jitted train step scans Keras's own
stateless ``train_step(state, data)`` over its k minibatches: the state tuple (trainable,
non-trainable, optimizer and metric variables) is the scan's carry, so the step counter,
the learning rate computed from it, the momentum, the dropout generator, the loss and the
metric trackers advance per minibatch exactly as in plain per-batch training, and the
whole block is one XLA program (its loop runs on the device, not the host).

Keras builds a compiled model's loss and metrics from the first batch ``fit`` sees; a block
is not a minibatch, so they are built here from the model's own input and output shapes.
The trip count is the block's static leading dimension; blocks of another length (the
epoch's last, shorter block, the partial batch) compile once more each.
"""

from __future__ import annotations

import keras


def enable_block_steps_jax(model: keras.Model) -> keras.Model:
    """Make ``model.fit`` run each element ``(x[k, b, ...], y[k, b, ...])`` as k SGD steps.

    Args:
        model: a compiled Keras model on the JAX backend, with ``steps_per_execution=1``
            (the block length takes that role). Call this again after
            ``keras.models.load_model`` (the override is not saved with the model).

    Returns:
        The same model, for chaining. Its epoch logs are the metric results after the
        block's last minibatch, as with ``steps_per_execution``.

    Raises:
        RuntimeError: Keras does not run on the JAX backend.

    Used as ``enable_block_steps``: ``net.fit(epoch_block_arrays(...), epochs=...,
    steps_per_epoch=blocks_per_epoch(...))`` (``reproduce.train.jax_batches``).
    """
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"enable_block_steps_jax needs Keras's JAX backend (compute."
                           f"backend: jax); Keras runs on {keras.backend.backend()!r}: use "
                           f"reproduce.train.block_steps.enable_block_steps")
    import jax

    _build_for_one_minibatch(model)
    one_step = type(model).train_step

    def train_step(state, data):
        x, y = data[0], data[1]

        def body(carry, minibatch):
            _, carry = one_step(model, carry, minibatch)  # its logs unused: not computed
            return carry, None

        state, _ = jax.lax.scan(body, state, (x, y))
        # Keras's step returns the metric results after every minibatch; scanned, they would
        # all be computed (the AUC's curve from its counts: about a fifth of the shallow
        # net's step). The block's logs are the results after its last minibatch: read once,
        # from the final metric variables (state[3]), as Keras's step reads them.
        with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, state[3]))):
            logs = model.get_metrics_result()
        return logs, state

    model.train_step = train_step
    model.train_function = None
    return model


def _build_for_one_minibatch(model: keras.Model) -> None:
    """Build the compiled loss, metrics and optimizer for minibatches ``[b, ...]`` (what
    ``fit`` would do from its first batch, which here is a block ``[k, b, ...]``)."""
    if getattr(model, "_compile_loss", None) is None and model.optimizer is None:
        raise RuntimeError("enable_block_steps_jax: compile the model first")

    if not hasattr(model, "inputs"):  # a subclassed model (a pack): built by a first call
        _build_subclassed(model)
        return

    def spec(tensor):
        return keras.KerasTensor(tensor.shape, tensor.dtype)

    inputs = [spec(t) for t in model.inputs]
    outputs = [spec(t) for t in model.outputs]
    model._symbolic_build(data_batch=(inputs[0] if len(inputs) == 1 else inputs,
                                      outputs[0] if len(outputs) == 1 else outputs))


def _build_subclassed(model: keras.Model) -> None:
    """Build the optimizer of a subclassed model that was called once (its variables made)
    and computes its own loss and metrics (``reproduce.train.packed.PackedNetwork``)."""
    compiled = (getattr(model, "_compile_metrics", None), getattr(model, "_compile_loss", None))
    if not model.built or any(part is not None for part in compiled):
        raise RuntimeError(
            f"enable_block_steps_jax: the subclassed model {model.name} must be built (called "
            f"once on a minibatch) and compute its own loss and metrics (compiled without "
            f"loss= and metrics=), as reproduce.train.packed.compile_packed does")
    model._symbolic_build(iterator=())

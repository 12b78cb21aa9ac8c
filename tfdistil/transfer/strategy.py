"""tf.distribute strategies for the local labelling engine (`label.label_shards`).

Kept apart from label.py so the engine stays a small module.
"""
import json
import os

from tfdistil.errors import UserError


def configure_cpu_devices(n):
    """Split the CPU into `n` logical devices (before TensorFlow starts its runtime)."""
    if n <= 1:
        return
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        raise UserError("--cpu-devices must be set before TensorFlow initialises its devices") from None


def make_strategy(kind="auto"):
    """A tf.distribute strategy over what this machine (or cluster) has.

    auto: MultiWorkerMirrored when TF_CONFIG names several workers, Mirrored over
    the GPUs when there are several (or over logical CPUs when the CPU was
    split), else the default one-device strategy.
    """
    import tensorflow as tf
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    if kind == "multiworker" or (kind == "auto" and sum(len(v) for v in cluster.values()) > 1):
        # Before anything else touches the runtime: collectives are configured at startup.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    if kind == "auto":
        if len(gpus) > 1 or (not gpus and len(cpus) > 1):
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy([d.name for d in (gpus or cpus)])
    raise UserError(f"unknown strategy {kind!r}; choose auto, default, mirrored or multiworker")


def describe(strategy):
    return {"name": type(strategy).__name__, "replicas": int(strategy.num_replicas_in_sync)}


def is_chief(strategy):
    """Only the chief writes files (MultiWorkerMirroredStrategy runs this code on every worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    spec = resolver.cluster_spec().as_dict()
    if "chief" in spec:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def distributed_forward(strategy, teacher):
    """f(ids, mask) -> logits [B, C]: the global batch split over replicas, gathered in order."""
    import numpy as np
    import tensorflow as tf
    n = strategy.num_replicas_in_sync

    @tf.function(reduce_retracing=True)
    def step(ids, mask):
        def replica_fn(i, m):
            return teacher(input_ids=i, attention_mask=m, training=False).logits
        return strategy.gather(strategy.run(replica_fn, args=(ids, mask)), axis=0)

    def forward(ids, mask):
        rows = len(ids)
        pad = (-rows) % n  # every replica gets the same number of rows: repeat the last one
        if pad:
            ids = np.concatenate([ids, np.repeat(ids[-1:], pad, 0)])
            mask = np.concatenate([mask, np.repeat(mask[-1:], pad, 0)])
        per = len(ids) // n
        split = lambda a: strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(a[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]))
        return step(split(ids), split(mask)).numpy()[:rows]

    return forward

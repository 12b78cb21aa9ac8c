"""Teacher labelling past one machine: the shards of `label.label_shards` from a pool of Ray actors.

`label_shards_ray` writes the same folder as the local engine -- the same shard files, the
same manifest, the same settings check -- so `fit-stream` cannot tell the engines apart and a
folder started by one engine can be finished by the other.

    driver (this process)                        N TeacherWorker actors (Ray worker processes)
    reads rows, shard_size at a time      --->   teacher built once per actor (Keras 2)
    hashes each shard's input, skips the         label(sentences) -> float32 logits, with the
      shards the manifest lists as done          local engine's own batching and forward pass
    writes + commits each returned shard  <---
      (temp name, rename, manifest)

Why the driver writes: the output folder then lives on one machine only; workers need no
shared filesystem, only the teacher at the same path (or the installed `minilm` package).
Why Ray core actors and not Ray Data `map_batches`: see RAY.md beside this file.

Faults: an actor whose process dies is restarted (`max_restarts`) and the call that was running
is resubmitted (`max_task_retries`); labelling is deterministic, so the retried shard is the same.
Nothing is written until a shard's logits are back, so a lost worker costs only its shard. A
killed driver leaves committed shards only; the rerun skips them (resume as in the local engine).
"""
import logging
import os
import socket
import time

from tfdistil.errors import UserError
from tfdistil.transfer import shards as S

INSTALL = "pip install -e '.[ray]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"--engine ray needs Ray: `{INSTALL}` (the local engine does not)") from None
    return ray


# --------------------------------------------------------------------------- checks (no TensorFlow)
def probe_address(address, timeout=3.0):
    """Fail in seconds on a cluster nobody answers at: `ray.init(address=...)` retries for about a minute."""
    if address in (None, "auto", "local"):
        return
    rest, port = address, 6379  # `ray start --head` GCS port
    if rest.startswith("ray://"):
        rest, port = rest[len("ray://"):], 10001  # Ray Client server
    rest = rest.rstrip("/")
    host = rest
    if ":" in rest:
        host, _, p = rest.rpartition(":")
        try:
            port = int(p)
        except ValueError:
            raise UserError(f"--address {address}: expected HOST:PORT (or ray://HOST:PORT, or auto)") from None
    hint = "start one with `ray start --head` there, or leave out --address to run Ray here"
    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout).close()
    except OSError as e:
        raise UserError(f"--address {address}: no Ray cluster answers at {host}:{port} ({e.strerror or e}); "
                        f"{hint}") from None
    if not address.startswith("ray://"):
        code = gcs_answer(f"{host}:{port}", timeout)
        if code not in (None, "OK", "UNAUTHENTICATED"):
            raise UserError(f"--address {address}: something listens at {host}:{port} but it is not a Ray "
                            f"cluster's GCS (gRPC {code}); {hint}")


def gcs_answer(target, timeout):
    """gRPC status of one GetClusterId call to a Ray GCS, None if it cannot be asked.

    A TCP connect is not enough: a proxy or firewall that accepts every connection (as on the
    machine this was written on) makes `ray.init` retry for ~25 s. A GCS answers OK, or
    UNAUTHENTICATED when the cluster uses token auth (Ray's default) -- it is there either way.
    """
    try:
        import grpc
        from ray.core.generated import gcs_service_pb2 as pb, gcs_service_pb2_grpc as rpc
    except ImportError:  # another Ray layout: the TCP probe has to do
        return None
    with grpc.insecure_channel(target) as channel:
        try:
            rpc.NodeInfoGcsServiceStub(channel).GetClusterId(pb.GetClusterIdRequest(), timeout=timeout)
            return "OK"
        except grpc.RpcError as e:
            return e.code().name


def check_teacher_readable(teacher_dir):
    """The driver checks what every worker will open: a worker that cannot would die on each restart."""
    from tfdistil.teacher.checkpoints import resolve_model
    path = resolve_model(teacher_dir)
    if not os.path.isdir(path):
        raise UserError(f"--teacher {teacher_dir}: --engine ray needs a local teacher folder (workers do not "
                        "download from the hub)")
    weights = [n for n in ("tf_model.h5", "model.safetensors") if os.path.isfile(os.path.join(path, n))]
    if not weights:
        raise UserError(f"--teacher {teacher_dir}: no tf_model.h5 or model.safetensors to load")
    for name in weights + ["config.json"]:
        try:
            with open(os.path.join(path, name), "rb") as f:
                f.read(1)
        except OSError as e:
            raise UserError(f"--teacher {teacher_dir}: cannot read {name} ({e.strerror or e})") from None
    return path


def check_ray_args(address, workers, cpus_per_worker, teacher_dir):
    """Everything that can be refused before TensorFlow or Ray start. Returns `workers`."""
    if workers < 1:
        raise UserError(f"--workers {workers}: need at least one worker")
    if cpus_per_worker < 1:
        raise UserError(f"--cpus-per-worker {cpus_per_worker}: need at least one CPU per worker")
    check_teacher_readable(teacher_dir)
    import_ray()
    probe_address(address)
    return workers


# --------------------------------------------------------------------------- the actor
class TeacherWorker:
    """One per Ray worker process: builds the teacher once, then labels shard after shard."""

    def __init__(self, teacher_dir, batch_size, max_len):
        # transformers' TF models are Keras 2: set before this process first imports TensorFlow.
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import ray
        import tensorflow as tf
        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
        try:  # as many TF threads as CPUs Ray gave this actor: N actors on N cores do not fight
            tf.config.threading.set_intra_op_parallelism_threads(cpus)
            tf.config.threading.set_inter_op_parallelism_threads(cpus)
        except RuntimeError:
            pass  # a reused worker process whose runtime is already up
        from tfdistil.teacher import model as T
        from tfdistil.transfer.strategy import distributed_forward
        self.T, self.batch_size, self.max_len = T, batch_size, max_len
        self.model, self.tokenizer = T.load_teacher(teacher_dir)
        self.forward = distributed_forward(tf.distribute.get_strategy(), self.model)  # the local engine's own

    def info(self):
        import ray
        return {"pid": os.getpid(), "node": ray.util.get_node_ip_address(),
                "num_labels": int(self.model.config.num_labels)}

    def label(self, sentences):
        """(float32 [N, C] logits in row order, seconds, pid): the local engine's `_label_chunk`."""
        t0 = time.time()
        logits = S._label_chunk(self.T, self.model, self.tokenizer, self.forward, sentences, self.batch_size,
                                self.max_len)
        return logits, time.time() - t0, os.getpid()


def start_ray(ray, address, workers, cpus_per_worker):
    """Connect to `address`, or start Ray on this machine sized for the pool."""
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=max(os.cpu_count() or 1, workers * cpus_per_worker), include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"--address {address or '(local)'}: cannot start or join Ray "
                        f"({(str(e).splitlines() or [''])[0][:160]})") from None
    have, need = ray.cluster_resources().get("CPU", 0), workers * cpus_per_worker
    if have < need:
        ray.shutdown()
        raise UserError(f"--workers {workers} x --cpus-per-worker {cpus_per_worker} need {need} CPUs; the cluster "
                        f"has {have:g} (an actor that never starts would wait forever)")


def start_pool(ray, teacher_dir, workers, cpus_per_worker, batch_size, max_len, retries):
    """`workers` actors with the teacher loaded (waits for all); a load failure is one error line."""
    remote = ray.remote(num_cpus=cpus_per_worker, max_restarts=retries, max_task_retries=retries)(TeacherWorker)
    local = os.path.abspath(teacher_dir) if os.path.exists(teacher_dir) else teacher_dir  # workers' cwd differs
    actors = [remote.remote(local, batch_size, max_len) for _ in range(workers)]
    try:
        infos = ray.get([a.info.remote() for a in actors])
    except ray.exceptions.RayError as e:
        raise UserError(f"a Ray worker could not load the teacher {teacher_dir} (it must be readable at the same "
                        f"path on every node): {_cause(e)}") from None
    return actors, infos


def _cause(e):
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    errs = [line for line in lines if "Error" in line.split(":")[0]]
    return (errs[-1] if errs else lines[-1] if lines else type(e).__name__)[:240]


# --------------------------------------------------------------------------- the driver
def label_shards_ray(teacher_dir, rows, out_dir, sources, shard_size=100_000, batch_size=64, max_len=128, log=print,
                     known_logits=None, address=None, workers=2, cpus_per_worker=1, retries=3):
    """`label.label_shards` on Ray: same arguments (`strategy` aside), same folder, same summary.

    `address`: a running cluster (HOST:PORT, ray://HOST:PORT, auto); None starts Ray here.
    `workers` actors of `cpus_per_worker` CPUs each; `retries`: restarts per actor and
    resubmissions per shard after a worker process dies.
    """
    import numpy as np
    check_ray_args(address, workers, cpus_per_worker, teacher_dir)
    if shard_size < 1 or batch_size < 1:
        raise UserError("--shard-size and --batch-size must be positive")
    manifest = S.open_manifest(out_dir, S.shard_settings(teacher_dir, sources, shard_size, max_len))
    done = {s["index"]: s for s in manifest["shards"]}
    n_known = 0 if known_logits is None else len(known_logits)
    ray = actors = None
    idle, pending, pids = [], {}, {}
    labelled = labelled_shards = skipped = 0
    busy_seconds = startup = 0.0
    overheads = []
    t_run = time.time()
    t_ready = None

    def collect():
        """Wait for one shard from the pool and write it."""
        nonlocal labelled, labelled_shards, busy_seconds
        [ref], _ = ray.wait(list(pending), num_returns=1)
        k, index, offset, chunk, input_sha, reused, t0 = pending.pop(ref)
        try:
            part, seconds, pid = ray.get(ref)
        except ray.exceptions.RayError as e:
            raise UserError(f"shard {index}: a Ray worker failed after {retries} retries: {_cause(e)}") from None
        idle.append(k)
        pids[k].add(pid)
        overheads.append(time.time() - t0 - seconds)
        busy_seconds += seconds
        logits = np.zeros((len(chunk), part.shape[1]), np.float32)
        if reused:
            logits[:reused] = known_logits[offset:offset + reused]
        logits[reused:] = part
        S.save_shard(out_dir, manifest, index, chunk, input_sha, logits, seconds, reused,
                     strategy={"name": "ray", "replicas": 1}, worker=k)
        labelled += len(chunk) - reused
        labelled_shards += 1
        log(f"shard {index}: {len(chunk)} rows ({reused} logits from the cache), worker {k}, "
            f"{(len(chunk) - reused) / max(seconds, 1e-9):.0f} sentences/s")

    try:
        for index, offset, chunk, input_sha in S.chunks(rows, shard_size):
            entry = done.get(index)
            if entry and S._finished(out_dir, entry, input_sha):
                skipped += 1
                continue
            reused = max(0, min(len(chunk), n_known - offset))
            if reused == len(chunk):  # every logit from the cache: no worker needed
                manifest["num_labels"] = int(known_logits.shape[1])
                S.save_shard(out_dir, manifest, index, chunk, input_sha, known_logits[offset:offset + reused], 0.0,
                             reused, strategy={"name": "ray", "replicas": 0})
                labelled_shards += 1
                continue
            if actors is None:  # start Ray only when some shard needs the teacher
                ray = import_ray()
                t0 = time.time()
                start_ray(ray, address, workers, cpus_per_worker)
                actors, infos = start_pool(ray, teacher_dir, workers, cpus_per_worker, batch_size, max_len, retries)
                manifest["num_labels"] = infos[0]["num_labels"]
                idle = list(range(workers))
                pids = {k: {i["pid"]} for k, i in enumerate(infos)}
                t_ready = time.time()
                startup = t_ready - t0
                log(f"ray: {workers} workers ready in {startup:.1f} s on "
                    f"{len({i['node'] for i in infos})} node(s)")
            while not idle:
                collect()
            k = idle.pop(0)
            ref = actors[k].label.remote([s for s, _ in chunk[reused:]])
            pending[ref] = (k, index, offset, chunk, input_sha, reused, time.time())
        while pending:
            collect()
    finally:
        if ray is not None:
            ray.shutdown()
    S.finish_manifest(out_dir, manifest)
    wall = time.time() - t_run
    pool_wall = time.time() - t_ready if t_ready else 0.0
    return S.summary(out_dir, manifest, labelled, labelled_shards, skipped, wall, pool_wall,
                     engine="ray", strategy={"name": "ray", "replicas": workers}, chief=True,
                     ray={"address": address or "local", "workers": workers, "cpus_per_worker": cpus_per_worker,
                          "startup_seconds": round(startup, 2), "worker_busy_seconds": round(busy_seconds, 2),
                          "worker_restarts": sum(len(p) - 1 for p in pids.values()),
                          "overhead_seconds_per_shard": round(sum(overheads) / len(overheads), 4) if overheads
                          else None})

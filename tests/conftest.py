"""Shared fixtures: the repository path, tiny configs, npz splits, subprocesses.

Everything runs on CPU with tiny models (dim 16-32 mostly, chunks of 64
samples) so that the whole suite takes about 6-17 minutes on 2 cores.
"""
import importlib.util
import json
import os
import subprocess
import sys

# XLA's CPU back end at LLVM optimisation level 0, here and in every child
# Python: the tests compile hundreds of tiny programs and run each a few
# times, so compiling is most of their time. Level 0 changes how fast the
# machine code runs, not what it computes (IEEE arithmetic either way; no
# fast-math). Before jax is imported: XLA reads its flags once.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = (TEST_XLA_FLAGS + " " + os.environ.get("XLA_FLAGS", "")).strip()

import jax  # noqa: E402 (after the flags)
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config_file(path):
  """``get_config()`` of a configs/*.py file, loaded by path (as config_flags does)."""
  name = "config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def readme_python_block(marker):
  """The first ```python block of README.md after ``marker`` (the README's
  worked examples, which tests run or check as a user would copy them)."""
  with open(os.path.join(REPO, "README.md")) as f:
    after = f.read().split(marker, 1)[1]
  return after.split("```python\n", 1)[1].split("```", 1)[0]


def random_batch(config, seed, reset=True):
  """A batch of random quantised samples in ``batches.batch_spec``'s shapes,
  classes 0-3 in turn; ``reset``: every row starts from h0 (so a gradient
  does not depend on the carried state)."""
  from samplernn_jax import batches
  from samplernn_jax import config as config_lib
  spec = batches.batch_spec(config.batch_size, config.seq_len, config_lib.frame_sizes(config)[0])
  rng = np.random.default_rng(seed)
  b = config.batch_size
  return {"chunk": rng.integers(0, config.q_levels, spec["chunk"][0]).astype(np.int32),
          "mask": np.ones(*spec["mask"]), "sid": (np.arange(b) % 4).astype(np.int32),
          "reset": np.full(b, reset)}


def nested_eqns(jaxpr):
  """Every equation of a jaxpr, those of nested jaxprs (scan bodies, custom
  VJPs, pjit calls) included."""
  for eqn in jaxpr.eqns:
    yield eqn
    for sub in _jaxprs_in(eqn.params):
      yield from nested_eqns(sub)


def _jaxprs_in(params):
  """The jaxprs an equation's params hold, alone or in a tuple (what
  jax.extend.core.jaxprs_in_params gives from jax 0.10; the package's
  lowest jax, pyproject.toml, lacks it)."""
  for value in params.values():
    for v in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(v, jax.extend.core.ClosedJaxpr):
        yield v.jaxpr
      elif isinstance(v, jax.extend.core.Jaxpr):
        yield v


def dot_operand_dtypes(jaxpr) -> list:
  """(lhs, rhs) dtype names of every dot_general in a jaxpr, nested ones included."""
  return [tuple(str(v.aval.dtype) for v in eqn.invars) for eqn in nested_eqns(jaxpr)
          if eqn.primitive.name == "dot_general"]


def bf16_rounded(a) -> np.ndarray:
  """``a`` rounded to bfloat16, as float64 (a reference's exact inputs)."""
  return np.asarray(jnp.asarray(a).astype(jnp.bfloat16), np.float64)


NO_PREALLOC = "XLA_PYTHON_CLIENT_PREALLOCATE"  # set by sample.py (cli.share_the_gpu)


def perturbed(params, seed=0, noise=0.1):
  """params with N(0, noise) added to every leaf, in its dtype. Equivalence
  tests run on these: at initialisation biases and h0 are zero and each
  weight-norm scale equals its kernel's column norms, so a computation that
  dropped one of them would still agree."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda p: p + jnp.asarray(noise * rng.standard_normal(p.shape), p.dtype), params)


def snapshot(folder, skip=()):
  """Relative path -> (bytes, mtime_ns) of every file below ``folder``
  (hidden and temporary files too), but those whose name is in ``skip``:
  compared before and after a refusal, it shows that nothing was written,
  replaced, added or removed."""
  out = {}
  for root, _, files in os.walk(folder):
    for name in files:
      if name in skip:
        continue
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, folder)] = (f.read(), os.stat(path).st_mtime_ns)
  return out


def load_sample_py():
  """sample.py as a module, loaded once per process: it defines absl flags,
  which are process-global, and a second load would define them again."""
  if "sample_py" not in sys.modules:
    spec = importlib.util.spec_from_file_location("sample_py", os.path.join(REPO, "sample.py"))
    module = importlib.util.module_from_spec(spec)
    before = os.environ.get(NO_PREALLOC)
    spec.loader.exec_module(module)
    if before is None:  # sample.py's GPU memory default stays out of later children's env
      os.environ.pop(NO_PREALLOC, None)
    sys.modules["sample_py"] = module
  return sys.modules["sample_py"]


@pytest.fixture
def repo():
  return REPO


@pytest.fixture
def tiny_config():
  """Factory: configs/tiny.py made smaller still, plus any overrides.

  dim 32, one GRU layer, chunks of 64 samples, batch 8, learning rate 3e-3
  (learns visibly within 300 steps); evaluation only at the end of a run and
  on at most 4 clips a split.
  """
  def make(**overrides):
    c = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
    c.dim = 32
    c.n_rnn = 1
    c.seq_len = 64
    c.batch_size = 8
    c.learning_rate = 3e-3
    c.max_steps = 10
    c.log_every_steps = 5
    c.eval_every_steps = 0
    c.checkpoint_every_steps = 1000
    c.max_eval_clips = 4
    for k, v in overrides.items():
      c[k] = v
    return c
  return make


def write_split(folder, split, wav, sid, compressed=False):
  """Writes ``audio_<split>.npz`` (keys wav, sid) as the paper's files are."""
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(str(folder), f"audio_{split}.npz")
  (np.savez_compressed if compressed else np.savez)(path, wav=wav, sid=sid)
  return path


@pytest.fixture
def npz_writer():
  """The ``write_split`` function, for tests that write their own files."""
  return write_split


def make_clips(n, t, n_classes=4, seed=0):
  """float16 [n, t] class-dependent tones plus noise, and uint8 sid [n]."""
  rng = np.random.default_rng(seed)
  sid = (np.arange(n) % n_classes).astype(np.uint8)
  time = np.arange(t)
  wav = 0.5 * np.sin(2 * np.pi * (sid[:, None] + 1) * time / 64.0)
  wav = wav + 0.1 * rng.standard_normal((n, t))
  return wav.astype(np.float16), sid


@pytest.fixture
def small_dataset(tmp_path):
  """A data_dir of small npz splits: train 16 x 1024, valid and test 4 x 256."""
  folder = tmp_path / "data"
  for i, (split, n, t) in enumerate((("train", 16, 1024), ("valid", 4, 256),
                                     ("test", 4, 256))):
    write_split(folder, split, *make_clips(n, t, seed=i))
  return str(folder)


# ---------------------------------------------------------------------------
# A persistent XLA compilation cache for the whole session.
#
# Compiling the train and eval steps costs ~3 s each on 2 cores, and the
# tests build the same programs many times (an unbroken and a resumed run;
# train.py, sample.py and evaluate.py in subprocesses). The cache lives in
# this session's tmp folder only (one per xdist worker, shared with the
# worker's children and, since 2026-12-01, with test_faults.py's), so
# nothing outlives the session; it changes no result (the same executables
# run), only the time.

_CACHE_OPTIONS = {"jax_compilation_cache_dir": None,
                  "jax_persistent_cache_min_compile_time_secs": 0.0,
                  "jax_persistent_cache_min_entry_size_bytes": -1}


# ---------------------------------------------------------------------------
# The order files run in. pytest-xdist (--dist loadfile) hands whole files to
# the workers in collection order; alphabetically the longest file
# (test_variants.py) came last and ran alone while the other worker idled.
# Longest first (test seconds on the 2-core machine, 2026-12-02, three
# workers), then the rest alphabetically: the workers end within a short
# file of each other.
# Only the order changes; every file's tests keep theirs.

LONGEST_FIRST = ("test_variants.py", "test_faults.py", "test_train.py",
                 "test_sampling.py", "test_sample_cli.py", "test_evaluation.py",
                 "test_distributed.py", "test_model.py", "test_benchmarks.py",
                 "test_demo.py", "test_gru_pallas.py", "test_import_score.py",
                 "test_cli.py", "test_multidevice.py", "test_reference.py",
                 "test_listen_page.py", "test_hlo_kernels.py")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable


def pytest_xdist_auto_num_workers(config):
  """``-n auto`` (pytest.ini): one worker more than the CPUs this process
  may use (``--maxprocesses`` caps it at 4). A worker spends a part of its
  time waiting on its child processes, subprocess start-up and files; a
  third worker on the 2-core machine fills that time (measured in one
  afternoon: 838 s with two workers, 745 s with three, the same 1 400 s of
  CPU). PYTEST_XDIST_AUTO_NUM_WORKERS still overrides it (xdist's own
  hook then reads it)."""
  if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
    return None
  try:
    n = len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    n = os.cpu_count() or 1
  return n + 1


@pytest.fixture(scope="session")
def compile_cache_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("jax_compilation_cache"))


def _set_cache_options(values):
  for name, value in values.items():
    jax.config.update(name, value)
  try:  # jax reads the options once per process; make it read them again
    from jax._src import compilation_cache
    compilation_cache.reset_cache()
  except (ImportError, AttributeError):  # another jax: the cache may stay off
    pass


@pytest.fixture(scope="session", autouse=True)
def compile_cache_everywhere(compile_cache_dir):
  """The session's cache on in this process and, through the environment,
  in every child Python (train.py, sample.py, evaluate.py run as a user
  runs them compile the same tiny programs again and again)."""
  names = {name.upper(): str(compile_cache_dir if value is None else value)
           for name, value in _CACHE_OPTIONS.items()}
  saved = {name: os.environ.get(name) for name in names}
  os.environ.update(names)
  _set_cache_options(dict(_CACHE_OPTIONS, jax_compilation_cache_dir=compile_cache_dir))
  yield compile_cache_dir
  for name, value in saved.items():
    if value is None:
      os.environ.pop(name, None)
    else:
      os.environ[name] = value


def subprocess_env(devices=None):
  """Environment for a child Python: this checkout importable, N fake CPU devices."""
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env["JAX_PLATFORMS"] = "cpu"
  env["XLA_FLAGS"] = TEST_XLA_FLAGS
  if devices:
    env["XLA_FLAGS"] += f" --xla_force_host_platform_device_count={devices}"
  return env


# Runs entry points one after another in a single child Python, each as
# ``python SCRIPT ARGS`` would (runpy as __main__, its folder first on
# sys.path, the real app.run), for tests of refusals and small runs: one
# interpreter and one JAX import instead of one per script. A script's
# stdout, stderr and log lines (absl's handler, which the standard library's
# loggers reach too) are its own; output written below Python (XLA's C++
# logs) is not captured. Between scripts it deletes the absl flags the
# script and the repository's modules defined (a library's, such as orbax's,
# stay with the library) and forgets the repository modules (not the
# package) it imported, so the next script defines its own.
SCRIPTS_CHILD = r"""
import io, json, os, runpy, signal, sys, traceback
from absl import app, flags, logging
app.define_help_flags()  # absl's own flags, defined once before the first script
repo, rows = os.getcwd(), []
log_stream = logging.get_absl_handler().python_handler

def library_flag(name):
  module = sys.modules.get(flags.FLAGS.find_module_defining_flag(name) or "__main__")
  path = getattr(module, "__file__", None) or ""
  return bool(path) and not path.startswith(repo)

for argv, env, cwd in json.loads(sys.argv[1]):
  print("running", argv, file=sys.stderr, flush=True)  # the one an alarm stopped
  signal.alarm(120)  # a script still at work after 120 s ends the child (SIGALRM)
  flags.FLAGS.unparse_flags()
  flags_before, modules_before, path_before = set(flags.FLAGS), set(sys.modules), list(sys.path)
  environ_before = dict(os.environ)
  os.environ.update(env)
  os.chdir(cwd or repo)
  sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
  sys.argv, out, err, code = list(argv), io.StringIO(), io.StringIO(), 0
  streams, (sys.stdout, sys.stderr) = (sys.stdout, sys.stderr), (out, err)
  log_before, log_stream.stream = log_stream.stream, err
  try:
    runpy.run_path(argv[0], run_name="__main__")
  except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    if not isinstance(e.code, (int, type(None))):
      print(e.code, file=err)  # as Python prints sys.exit("message")
  except BaseException:
    traceback.print_exc(file=err)  # as an uncaught exception of the script
    code = 1
  finally:
    sys.stdout, sys.stderr = streams
    log_stream.stream = log_before
    signal.alarm(0)
  for name in set(flags.FLAGS) - flags_before:
    if not library_flag(name):
      delattr(flags.FLAGS, name)
  for name in set(sys.modules) - modules_before:
    path = getattr(sys.modules[name], "__file__", None) or ""
    if path.startswith(repo) and not name.startswith("samplernn_jax"):
      del sys.modules[name]
  sys.path[:] = path_before
  os.environ.clear()
  os.environ.update(environ_before)
  rows.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(rows))
"""


def run_scripts(runs, timeout=600):
  """CompletedProcess-like (returncode, stdout, stderr) of each ``(argv, env,
  cwd)`` of ``runs``, run in one child (SCRIPTS_CHILD); argv[0] is a script
  path (relative to the repository, or to ``cwd`` when given), env (a dict
  added to the environment) and cwd may be None. A script still running
  after 120 s ends the child: an assertion error naming it (a refusal that
  did not come: the script went to work)."""
  runs = [(list(map(str, argv)), env or {}, str(cwd) if cwd else None)
          for argv, env, cwd in runs]
  p = subprocess.run([sys.executable, "-c", SCRIPTS_CHILD, json.dumps(runs)], cwd=REPO,
                     env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
  assert p.returncode == 0, f"the scripts' child ended with {p.returncode}:\n{p.stderr[-3000:]}"
  rows = json.loads(p.stdout.strip().splitlines()[-1])
  return [subprocess.CompletedProcess(argv, *row) for (argv, _, _), row in zip(runs, rows)]


@pytest.fixture
def run_python():
  """Runs ``python <args>`` in the repository (with the session's compilation
  cache, from the environment: compile_cache_everywhere); returns the
  CompletedProcess."""
  def run(args, devices=None, timeout=300):
    return subprocess.run([sys.executable] + list(args), cwd=REPO,
                          env=subprocess_env(devices),
                          capture_output=True, text=True, timeout=timeout)
  return run

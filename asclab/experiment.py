"""The workspace every notebook opens: one dataset, its cached features, and the runs shared between lessons.

``Workspace.open(PROFILE, DATA_DIR, SEED)`` finds (or generates) the data, loads the cached log-mels and
knows where trained teachers, students and logits live, so that notebook 05 reuses the teachers that
notebook 03 fine-tuned instead of training them again. Every run is keyed by its full configuration:
change a hyper-parameter and a new run is trained; change nothing and the finished run is loaded.

The method stays in the notebooks: a student trains with the caller's KD term
(``ws.train_student(system, split, kd=kd_term)``) and QAT with the caller's prepared model, KD term and epoch
callback (``ws.train_qat``). :func:`function_key` puts such functions into the run key.
"""
from __future__ import annotations

import ast
import builtins
import copy
import dataclasses
import dis
import enum
import functools
import hashlib
import inspect
import json
import math
import os
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from asclab import data, features, profiles, quantize, storage, synthetic
from asclab.augment import AugmentConfig
from asclab.distill import cached_teacher_logits, ensemble_logits, make_kd_hook, state_digest
from asclab.evaluate import evaluate, predict
from asclab.features import Normalizer
from asclab.models import registry
from asclab.runs import load_finished_run, run_key, run_or_load
from asclab.train import TrainConfig


@dataclass
class Run:
    """A finished training run: the model, its test report and where its files are."""
    name: str
    split: int
    model: torch.nn.Module
    metrics: dict
    history: list
    out_dir: Path
    pretrained_from: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def macro_acc(self) -> float:
        return float(self.metrics["macro_acc"])

    @property
    def label(self) -> str:
        """The run's name as tables show it, marking teachers that did not start from AudioSet weights."""
        if self.name in registry.TEACHERS and not self.pretrained_from:
            return f"{self.name} (not pre-trained)"
        return self.name


def configure_threads() -> int:
    """Set torch's CPU threads: ``$ASCLAB_THREADS``, else 1 on machines with at most 2 cores.

    On a 2-core laptop, two torch threads compete with Jupyter, the browser and the OS; measured here, one
    busy core slows 2-thread training 3-10x (threads wait at every barrier), while 1 thread stays steady.
    Headless runs (``asclab run``, ``make workbook``) own the machine and set ``ASCLAB_THREADS`` to every core
    (``asclab.workbook.headless_threads``).
    """
    n = os.environ.get("ASCLAB_THREADS")
    threads = int(n) if n else (1 if (os.cpu_count() or 1) <= 2 else torch.get_num_threads())
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def resolve_data_dir(profile: profiles.Profile, data_dir=None, seed: int = 0, progress: bool = False) -> Path:
    """The dataset folder: ``data_dir`` when given, else the embedded synthetic dataset.

    The synthetic dataset is generated when it is absent.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if profile.dataset != "synthetic":
        raise ValueError(
            f"the {profile.name!r} profile runs on the real TAU Urban Acoustic Scenes 2022 Mobile data: set "
            "DATA_DIR to the TAU-urban-acoustic-scenes-2022-mobile-development folder (see README: Real data)"
        )

    root = synthetic.default_root(profile, seed)   # a resized profile gets its own folder
    synthetic.synthesize(root, profile, seed, progress=progress)
    return root


# --- run keys of the caller's functions: the KD term, the epoch callback -----------------------------------

def function_key(fn: Callable | None) -> str | None:
    """A digest of what a function computes, for run keys: its code and the values of the names it reads.

    The code is the function's source (``inspect.getsource``) parsed to a syntax tree, so comments, layout,
    the docstring and the function's own name do not count. Every name it reads from outside (a global or a
    closure cell) and every module attribute it reaches (``distill.kd_loss``) is replaced by a digest of its
    value: numbers and strings by value, tensors by their bytes, a function of an installed module by its
    qualified name (library code is versioned with the package, as the trainer is), a function written in
    a notebook or a closure by its own code and values. Defaults count as well.

    So two functions with the same code that read the same values get the same key, whether they read them
    from globals (notebook 05's ``kd_term``) or from a closure (``distill.make_kd_hook``'s), and a change of
    the temperature, the weight, the teacher logits or the code gives another key. A value the key cannot
    record (a Workspace, an open file) is an error: bind what the function needs to a plain name first.
    """
    if fn is None:
        return None
    return storage.content_key("function-v1", _value_token(fn, frozenset()))


def _function_token(fn: types.FunctionType, seen: frozenset) -> list:
    if id(fn) in seen:                                      # recursion: its code is being digested already
        return ["recursive", fn.__module__, fn.__qualname__]
    seen = seen | {id(fn)}
    values, tokens = _free_values(fn), {}
    for name, value in values.items():
        try:
            tokens[name] = storage.content_key(_value_token(value, seen))
        except TypeError as error:
            raise TypeError(f"{fn.__qualname__} reads {name!r}: {error}") from None
    tree = _ReadsToValues(values, tokens, seen).visit(_function_syntax(fn))
    return ["function", ast.dump(tree), _value_token(fn.__defaults__, seen),
            _value_token(fn.__kwdefaults__, seen)]


def _function_syntax(fn: types.FunctionType) -> ast.AST:
    """The syntax tree of ``fn`` without its name and docstring."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError) as error:
        raise ValueError(f"cannot read the code of {fn.__qualname__}: a run key records the code of the "
                         "functions a run trains with. Define it with def in a notebook cell or a .py "
                         "file.") from error
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    nodes = [n for n in ast.walk(tree)
             if isinstance(n, kinds) and getattr(n, "name", "<lambda>") == fn.__name__]
    if not nodes or (fn.__name__ == "<lambda>" and len(nodes) > 1):
        raise ValueError(f"cannot tell {fn.__qualname__} apart in its source lines: define it with def")
    node = nodes[0]                                         # the outermost: ast.walk goes breadth first
    if isinstance(node, ast.Lambda):
        return node
    node.name = ""
    first = node.body[0]
    is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
        and isinstance(first.value.value, str)
    if is_docstring:
        node.body = node.body[1:] or [ast.Pass()]
    return node


def _free_values(fn: types.FunctionType) -> dict:
    """The values of the names ``fn`` reads from outside: its closure cells and the globals it loads."""
    code, values = fn.__code__, {}
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
        try:
            values[name] = cell.cell_contents
        except ValueError:                                  # a cell not assigned yet
            values[name] = None
    for name in sorted(_global_names(code)):
        if name in fn.__globals__:
            values[name] = fn.__globals__[name]
        elif hasattr(builtins, name):
            values[name] = getattr(builtins, name)
    return values


def _global_names(code: types.CodeType) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:                            # nested functions, lambdas, comprehensions
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


class _ReadsToValues(ast.NodeTransformer):
    """Replaces every outside name a function reads, and every attribute of a module, by its value's
    digest."""

    def __init__(self, values: dict, tokens: dict, seen: frozenset):
        self.values, self.tokens, self.seen = values, tokens, seen

    def _module(self, node: ast.AST) -> types.ModuleType | None:
        """The module a dotted name such as ``torch.nn.functional`` reaches, or None."""
        if isinstance(node, ast.Name) and node.id in self.values:
            value = self.values[node.id]
        elif isinstance(node, ast.Attribute) and self._module(node.value) is not None:
            value = getattr(self._module(node.value), node.attr, None)
        else:
            return None
        return value if isinstance(value, types.ModuleType) else None

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        module = self._module(node.value)
        if isinstance(node.ctx, ast.Load) and module is not None and hasattr(module, node.attr):
            try:
                token = storage.content_key(_value_token(getattr(module, node.attr), self.seen))
            except TypeError as error:
                raise TypeError(f"it reads {module.__name__}.{node.attr}: {error}") from None
            return ast.Constant(f"<{token}>")
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and node.id in self.tokens:
            return ast.Constant(f"<{self.tokens[node.id]}>")
        return node


def _is_library_function(fn: types.FunctionType) -> bool:
    """A top-level function of an imported module (not a notebook's, not a closure)."""
    module = sys.modules.get(fn.__module__ or "")
    return (fn.__module__ != "__main__" and module is not None and fn.__closure__ is None
            and getattr(module, fn.__name__, None) is fn)


def _bytes_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def _value_token(value, seen: frozenset):
    """A JSON value that stands for ``value`` in a run key (see :func:`function_key`)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, enum.Enum)):
        return [type(value).__name__, repr(value)]
    if isinstance(value, torch.Tensor):
        # a copy: .numpy() marks the storage it shares as not resizable (QAT observers resize theirs)
        raw = value.detach().cpu().clone().reshape(-1).view(torch.uint8).numpy().tobytes()
        return ["tensor", str(value.dtype), list(value.shape), _bytes_digest(raw)]
    if isinstance(value, (np.ndarray, np.generic)):
        raw = np.ascontiguousarray(value).tobytes()
        return ["ndarray", str(value.dtype), list(np.shape(value)), _bytes_digest(raw)]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [_value_token(v, seen) for v in value]]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted((_value_token(v, seen) for v in value), key=json.dumps)]
    if isinstance(value, dict):
        items = [[_value_token(k, seen), _value_token(v, seen)] for k, v in value.items()]
        return ["dict", sorted(items, key=json.dumps)]
    if isinstance(value, types.ModuleType):
        return ["module", value.__name__]
    if isinstance(value, types.FunctionType):
        if _is_library_function(value):
            return ["function", value.__module__, value.__qualname__]
        return _function_token(value, seen)
    if isinstance(value, functools.partial):
        return ["partial", _value_token(value.func, seen), _value_token(value.args, seen),
                _value_token(value.keywords, seen)]
    if isinstance(value, types.MethodType):
        return ["method", _value_token(value.__self__, seen), _value_token(value.__func__, seen)]
    if isinstance(value, types.BuiltinFunctionType):       # torch.softmax, len, a tensor's bound method
        owner = value.__self__
        if owner is None or isinstance(owner, types.ModuleType):
            return ["builtin", value.__module__, value.__qualname__]
        return ["method", _value_token(owner, seen), value.__qualname__]
    if isinstance(value, type):
        return ["class", value.__module__, value.__qualname__]
    if isinstance(value, (torch.dtype, torch.device)):
        return ["torch", str(value)]
    if isinstance(value, torch.nn.Module):
        return ["nn.Module", type(value).__qualname__, storage.content_key(repr(value)), state_digest(value)]
    if dataclasses.is_dataclass(value):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return ["dataclass", type(value).__module__, type(value).__qualname__, _value_token(fields, seen)]
    raise TypeError(f"a run key cannot record a {type(value).__qualname__}; bind what the function needs "
                    "(numbers, strings, tensors, functions, models) to plain names before training")


class NotCached(LookupError):
    """A run that a Workspace with ``train=False`` was asked for has not been trained."""


class Workspace:
    """Dataset, features, normalizers and shared runs for one (profile, data, seed).

    ``train`` (default True): train a run that the cache lacks; False: only load finished runs, and raise
    :class:`NotCached` for a missing one (the reproduction page reads what notebooks 03-06 trained).
    """

    def __init__(self, profile: profiles.Profile, dataset: data.TAU22, features, seed: int = 0,
                 home: Path | None = None, progress: bool = False):
        self.profile = profile
        self.dataset = dataset
        self.features = features          # FeatureSet of every clip in meta.csv
        self.seed = seed
        self.progress = progress
        self.data_key = storage.content_key(str(Path(dataset.root).resolve()),
                                            storage.file_digest(Path(dataset.root) / "meta.csv"),
                                            getattr(features, "key", ""))
        self.runs_dir = Path(home or storage.asclab_home()) / "runs" / self.data_key
        self._index = {f: i for i, f in enumerate(features.filenames)}
        self._sets: dict = {}
        self._normalizers: dict = {}
        self.train = True

    @classmethod
    def open(cls, profile="demo", data_dir=None, seed: int = 0, progress: bool = False) -> Workspace:
        profile = profiles.get(profile) if isinstance(profile, str) else profile
        configure_threads()
        root = resolve_data_dir(profile, data_dir, seed, progress)
        dataset = data.TAU22(root)
        feats = features.load_features(dataset, dataset.clips, progress=progress)
        torch.manual_seed(seed)
        return cls(profile, dataset, feats, seed, progress=progress)

    # --- data ------------------------------------------------------------------------------------------
    def _subset(self, clips):
        return self.features.subset(torch.tensor([self._index[c.filename] for c in clips], dtype=torch.long))

    def train_set(self, split: int):
        """The log-mels of a training split (5, 10, 25, 50 or 100 percent)."""
        if split not in self._sets:
            self._sets[split] = self._subset(self.dataset.split(split))
        return self._sets[split]

    def logmel(self, clip) -> torch.Tensor:
        """The cached log-mel of one clip: [256, 64]."""
        return self.features.x[self._index[clip.filename], 0]

    @property
    def test_set(self):
        if "test" not in self._sets:
            self._sets["test"] = self._subset(self.dataset.split("test"))
        return self._sets["test"]

    def normalizer(self, split: int):
        """Per-mel-bin statistics fitted on the training split only, and saved beside its runs."""
        if split not in self._normalizers:
            path = self.runs_dir / f"normalizer-split{split}.pt"
            if path.is_file():
                norm = Normalizer.load(path)
            else:
                norm = Normalizer().fit(self.train_set(split).x)
                norm.save(path)
            self._normalizers[split] = norm
        return self._normalizers[split]

    # --- training --------------------------------------------------------------------------------------
    def init_seed(self, name: str, split: int) -> int:
        """The seed of a run's initial weights: a function of (workspace seed, run name, split) only."""
        return int(storage.content_key("init", self.seed, name, int(split))[:8], 16)

    def build(self, name: str, split: int, make: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        """``make()`` under torch's generator seeded with :meth:`init_seed`, restored afterwards: a run's
        initial weights never depend on what the notebook ran before it (so its key decides them)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.init_seed(name, split))
            return make()

    def teacher_config(self, name: str, from_scratch: bool):
        p, t = self.profile, registry.teacher(name)
        return TrainConfig(
            epochs=p.teacher_epochs, lr=p.teacher_lr, batch_size=p.batch_size,
            augment=AugmentConfig(mix=t.mix), hierarchy=t.hierarchy, hierarchy_weight=p.hl_weight,
            seed=self.seed, temperature_schedule=from_scratch, progress=self.progress, eval_every=0,
        )

    def _run(self, name, split, model, cfg, extra_loss=None, pretrained_from=None, **key_extra) -> Run:
        # the key: name, split, config, the model's architecture, the data, the starting checkpoint and
        # whatever else the caller names (KD settings, teachers)
        key = run_key(name, split, cfg, model, self.data_key, pretrained_from=pretrained_from, **key_extra)
        out_dir = self.runs_dir / f"{name}-split{split}-{key}"
        result = self._run_or_load(model, self.train_set(split), cfg, out_dir, self.normalizer(split),
                                   key=key, test_set=self.test_set, extra_loss=extra_loss,
                                   description=f"{name} on split{split} ({self.profile.name} profile)")
        metrics = result.metrics or evaluate(predict(result.model, self.test_set, self.normalizer(split)),
                                             self.test_set)
        return Run(name, split, result.model, metrics, result.history, out_dir, pretrained_from)

    def _run_or_load(self, model, train_set, cfg, out_dir, normalizer, key, device=None, **kwargs):
        """``runs.run_or_load``, or with ``self.train`` False the finished run only (else NotCached)."""
        if self.train:
            return run_or_load(model, train_set, cfg, out_dir, normalizer, key=key, device=device, **kwargs)
        found = load_finished_run(model, out_dir, key, cfg.device if device is None else device)
        if found is None:
            raise NotCached(f"no finished run in {out_dir}")
        return found

    def train_teacher(self, name: str, split: int, weights_dir=None, pretrained: bool = True) -> Run:
        """Fine-tune a teacher of Table 1 on a split (from its pre-trained checkpoint, or from scratch with
        ``pretrained=False``), or load the finished run."""
        model, source = self.build(name, split, lambda: registry.build_teacher(
            name, self.profile, weights_dir=weights_dir, pretrained=pretrained))
        # the DyMN width is part of the model's architecture, which run_key records
        return self._run(name, split, model, self.teacher_config(name, from_scratch=source is None),
                         pretrained_from=source)

    def teacher_logits(self, name: str, split: int, which: str = "train") -> torch.Tensor:
        """A teacher's logits on the training split (for distillation) or the test set, cached on disk."""
        run = self.train_teacher(name, split)
        fs = self.train_set(split) if which == "train" else self.test_set
        return cached_teacher_logits(run.model, fs, self.normalizer(split), self.runs_dir / "logits",
                                     feature_key=self.data_key)

    def ensemble_logits(self, system: str, split: int, which: str = "train") -> torch.Tensor:
        # exactly the teachers that Table 2 names: one the profile has not trained yet is trained here
        teachers = registry.system(system).teachers
        return ensemble_logits([self.teacher_logits(t, split, which) for t in teachers])

    def student_epochs(self, split: int) -> int:
        """The profile's student epochs, raised on small splits to ``student_min_steps`` optimizer steps."""
        p = self.profile
        steps_per_epoch = math.ceil(len(self.train_set(split)) / p.batch_size)
        return max(p.student_epochs, math.ceil(p.student_min_steps / steps_per_epoch))

    def student_config(self, hierarchy: str = "none", epochs=None, lr=None, label_weight: float = 1.0):
        p = self.profile
        return TrainConfig(
            epochs=epochs or p.student_epochs, lr=lr or p.student_lr, batch_size=p.batch_size,
            augment=AugmentConfig(mix=None), hierarchy=hierarchy, hierarchy_weight=p.hl_weight,
            seed=self.seed, progress=self.progress, label_weight=label_weight, eval_every=0,
        )

    def train_student(self, name: str, split: int, kd: bool | Callable = True,
                      label_weight: float | None = None) -> Run:
        """A CP-Mobile student (``system1``..``system3``, or ``cpmobile``) or the ``baseline``, trained or
        loaded.

        ``kd=False``: labels alone. ``kd=True``: distillation from the system's ensemble with
        ``distill.make_kd_hook`` at the profile's temperature and weight. A function
        ``kd(student_logits, batch_index, perm, lam) -> loss`` is the caller's KD term (notebook 05 writes
        one): the trainer adds it to ``label_weight`` x the label loss, ``1 - kd_weight`` unless given. The
        run key records the term (:func:`function_key`) and the teachers' runs; a term with the same code
        and values as the library's is the ``kd=True`` run.
        """
        p = self.profile
        hierarchy = registry.system(name).hierarchy if name in registry.SYSTEMS else "none"
        if not kd:
            cfg = self.student_config(hierarchy, epochs=self.student_epochs(split),
                                      label_weight=1.0 if label_weight is None else label_weight)
            # the student on labels alone is the same run whichever system it is compared with
            run_name = ("baseline" if name == "baseline" else
                        "cpmobile" if hierarchy == "none" else "cpmobile-ob")
            model = self.build(run_name, split, lambda: registry.build_student(
                "baseline" if name == "baseline" else "cpmobile"))
            return self._run(run_name, split, model, cfg, targets="labels")
        if name not in registry.SYSTEMS:
            raise ValueError("distillation needs a system (system1..system3) to name its teachers, "
                             f"got {name!r}")
        kd_term, key_extra = self._kd_term(name, split, kd)
        cfg = self.student_config(hierarchy, epochs=self.student_epochs(split),
                                  label_weight=1.0 - p.kd_weight if label_weight is None else label_weight)
        key_extra["teachers"] = self._teacher_keys(name, split)
        model = self.build(name, split, lambda: registry.build_student("cpmobile"))
        return self._run(name, split, model, cfg, extra_loss=kd_term, **key_extra)

    def _kd_term(self, system: str, split: int, kd: bool | Callable) -> tuple[Callable, dict]:
        """The KD term a student trains with, and what its run key records of it."""
        p = self.profile
        library_key = {"targets": "kd", "kd_temperature": p.kd_temperature, "kd_weight": p.kd_weight}
        if kd is True:
            hook = make_kd_hook(self.ensemble_logits(system, split), p.kd_temperature, p.kd_weight)
            return hook, library_key
        if not callable(kd):
            raise TypeError("kd must be True, False or a function kd(student_logits, batch_index, perm, lam) "
                            f"-> loss, got {kd!r}")
        library = make_kd_hook(self.ensemble_logits(system, split), p.kd_temperature, p.kd_weight)
        caller = function_key(kd)
        if caller == function_key(library):
            return kd, library_key
        return kd, {"targets": "kd-term", "kd_term": caller}

    def _teacher_keys(self, system: str, split: int) -> list[str]:
        """The run folders (name, split and key) of a system's teachers, trained or loaded here."""
        return [str(self.train_teacher(t, split).out_dir.name) for t in registry.system(system).teachers]

    # --- quantization (notebook 06 runs the steps; quantize_student runs them in one call) ---------------
    def train_qat(self, student: Run, qat_model: torch.nn.Module, kd: Callable | None,
                  on_epoch_start: Callable | None, label_weight: float | None = None) -> Run:
        """Quantization-aware fine-tuning of ``qat_model``, a student prepared for QAT
        (``quantize.prepare_qat`` or its steps), at the profile's QAT epochs and learning rate, on the CPU;
        or the finished run.

        ``kd`` is the KD term (distillation continues; None: labels alone), ``on_epoch_start(epoch, model)``
        runs before every epoch (e.g. freezing observers). A copy of ``qat_model`` is trained, so that the
        same call again loads the run. The key records the prepared model's architecture and starting
        weights, both functions (:func:`function_key`) and the config.
        """
        p = self.profile
        hierarchy = registry.system(student.name).hierarchy if student.name in registry.SYSTEMS else "none"
        if label_weight is None:
            label_weight = 1.0 - p.kd_weight if kd is not None else 1.0
        cfg = self.student_config(hierarchy, epochs=p.qat_epochs, lr=p.qat_lr, label_weight=label_weight)
        model, name, split = copy.deepcopy(qat_model), f"{student.name}-qat", student.split
        key = run_key(name, split, cfg, model, self.data_key, method="qat-v2", student=student.out_dir.name,
                      start=state_digest(model), kd_term=function_key(kd),
                      on_epoch_start=function_key(on_epoch_start))
        out_dir = self.runs_dir / f"{name}-split{split}-{key}"
        with quantize.quiet():
            result = self._run_or_load(model, self.train_set(split), cfg, out_dir, self.normalizer(split),
                                       key=key, extra_loss=kd, on_epoch_start=on_epoch_start, device="cpu",
                                       description=f"QAT of {student.name} on split{split} "
                                                   f"({p.name} profile)")
        return Run(name, split, result.model, result.metrics, result.history, out_dir)

    def evaluate_quantized(self, student: Run, qat: Run, qat_int8: torch.nn.Module,
                           ptq_int8: torch.nn.Module) -> QuantizedRun:
        """The float student and its two INT8 models, evaluated by the same code on the test split."""
        norm, test = self.normalizer(student.split), self.test_set
        with quantize.quiet():
            metrics = {
                "float": student.metrics,
                "ptq_int8": evaluate(predict(ptq_int8, test, norm, device="cpu"), test),
                "qat_int8": evaluate(predict(qat_int8, test, norm, device="cpu"), test),
            }
        return QuantizedRun(student.name, student.split, student, qat.model, qat_int8, ptq_int8, metrics,
                            qat.out_dir)

    def quantize_student(self, system: str, split: int, kd: bool | Callable = True) -> QuantizedRun:
        """Notebook 06's steps in one call: QAT of a system's distilled student (distillation continues with
        ``kd``, as in :meth:`train_student`; observers and BatchNorm frozen from the profile's epoch on),
        and PTQ, both converted to INT8 and evaluated."""
        p = self.profile
        student = self.train_student(system, split, kd=kd)
        if kd is True:
            kd = make_kd_hook(self.ensemble_logits(system, split), p.kd_temperature, p.kd_weight)
        qat = self.train_qat(student, quantize.prepare_qat(student.model), kd or None,
                             quantize.freeze_from(p.qat_freeze_epoch))
        ptq_int8 = quantize.ptq(student.model, self.train_set(split), self.normalizer(split),
                                n_batches=p.calibration_batches, batch_size=p.batch_size, seed=self.seed)
        return self.evaluate_quantized(student, qat, quantize.convert(qat.model), ptq_int8)


@dataclass
class QuantizedRun:
    """A distilled student and its two INT8 versions: after quantization-aware training and after PTQ."""
    name: str
    split: int
    float_run: Run
    qat_model: torch.nn.Module          # fake-quantized (what QAT trained)
    qat_int8: torch.nn.Module           # converted INT8
    ptq_int8: torch.nn.Module
    metrics: dict                       # {"float", "ptq_int8", "qat_int8"} -> evaluation report
    out_dir: Path

"""The workspace every notebook opens: one dataset, its cached features, and the runs shared between lessons.

``Workspace.open(PROFILE, DATA_DIR, SEED)`` finds (or generates) the data, loads the cached log-mels and
knows where trained teachers, students and logits live, so that notebook 05 reuses the teachers that
notebook 03 fine-tuned instead of training them again. Every run is keyed by its full configuration:
change a hyper-parameter and a new run is trained; change nothing and the finished run is loaded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from asclab import data, profiles, storage
from asclab.models import registry


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
    import os

    n = os.environ.get("ASCLAB_THREADS")
    threads = int(n) if n else (1 if (os.cpu_count() or 1) <= 2 else torch.get_num_threads())
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def resolve_data_dir(profile: profiles.Profile, data_dir=None, seed: int = 0, progress: bool = False) -> Path:
    """The dataset folder: ``data_dir`` when given, else the embedded synthetic dataset (generated if absent)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if profile.dataset != "synthetic":
        raise ValueError(
            f"the {profile.name!r} profile runs on the real TAU Urban Acoustic Scenes 2022 Mobile data: set "
            "DATA_DIR to the TAU-urban-acoustic-scenes-2022-mobile-development folder (see README: Real data)"
        )
    from asclab import synthetic

    root = synthetic.default_root(profile, seed)   # a resized profile gets its own folder
    synthetic.synthesize(root, profile, seed, progress=progress)
    return root


class Workspace:
    """Dataset, features, normalizers and shared runs for one (profile, data, seed)."""

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

    @classmethod
    def open(cls, profile="demo", data_dir=None, seed: int = 0, progress: bool = False) -> "Workspace":
        from asclab import features

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
        from asclab.features import Normalizer

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
    def teacher_config(self, name: str, from_scratch: bool):
        from asclab.augment import AugmentConfig
        from asclab.train import TrainConfig

        p, t = self.profile, registry.teacher(name)
        return TrainConfig(
            epochs=p.teacher_epochs, lr=p.teacher_lr, batch_size=p.batch_size,
            augment=AugmentConfig(mix=t.mix), hierarchy=t.hierarchy, hierarchy_weight=p.hl_weight,
            seed=self.seed, temperature_schedule=from_scratch, progress=self.progress, eval_every=0,
        )

    def _run(self, name, split, model, cfg, extra_loss=None, extra_key=(), pretrained_from=None) -> Run:
        from asclab.evaluate import evaluate, predict
        from asclab.train import run_or_load

        key = storage.content_key(name, split, cfg.key(), self.data_key, pretrained_from, *extra_key)
        out_dir = self.runs_dir / f"{name}-split{split}-{key}"
        result = run_or_load(model, self.train_set(split), cfg, out_dir, self.normalizer(split),
                             key=key, test_set=self.test_set, extra_loss=extra_loss,
                             description=f"{name} on split{split} ({self.profile.name} profile)")
        metrics = result.metrics or evaluate(predict(result.model, self.test_set, self.normalizer(split)),
                                             self.test_set)
        return Run(name, split, result.model, metrics, result.history, out_dir, pretrained_from)

    def train_teacher(self, name: str, split: int, weights_dir=None, pretrained: bool = True) -> Run:
        """Fine-tune a teacher of Table 1 on a split (from its pre-trained checkpoint, or from scratch with
        ``pretrained=False``), or load the finished run."""
        model, source = registry.build_teacher(name, self.profile, weights_dir=weights_dir, pretrained=pretrained)
        width = registry.teacher_width(name, self.profile)
        return self._run(name, split, model, self.teacher_config(name, from_scratch=source is None),
                         extra_key=("dymn", width), pretrained_from=source)

    def teacher_logits(self, name: str, split: int, which: str = "train") -> torch.Tensor:
        """A teacher's logits on the training split (for distillation) or the test set, cached on disk."""
        from asclab.distill import cached_teacher_logits

        run = self.train_teacher(name, split)
        fs = self.train_set(split) if which == "train" else self.test_set
        return cached_teacher_logits(run.model, fs, self.normalizer(split), self.runs_dir / "logits",
                                     feature_key=self.data_key)

    def ensemble_logits(self, system: str, split: int, which: str = "train") -> torch.Tensor:
        from asclab.distill import ensemble_logits

        # exactly the teachers that Table 2 names: one the profile has not trained yet is trained here
        teachers = registry.system(system).teachers
        return ensemble_logits([self.teacher_logits(t, split, which) for t in teachers])

    def student_epochs(self, split: int) -> int:
        """The profile's student epochs, raised on small splits to ``student_min_steps`` optimizer steps."""
        p = self.profile
        steps_per_epoch = math.ceil(len(self.train_set(split)) / p.batch_size)
        return max(p.student_epochs, math.ceil(p.student_min_steps / steps_per_epoch))

    def student_config(self, hierarchy: str = "none", epochs=None, lr=None, label_weight: float = 1.0):
        from asclab.augment import AugmentConfig
        from asclab.train import TrainConfig

        p = self.profile
        return TrainConfig(
            epochs=epochs or p.student_epochs, lr=lr or p.student_lr, batch_size=p.batch_size,
            augment=AugmentConfig(mix=None), hierarchy=hierarchy, hierarchy_weight=p.hl_weight,
            seed=self.seed, progress=self.progress, label_weight=label_weight, eval_every=0,
        )

    def train_student(self, name: str, split: int, kd: bool = True) -> Run:
        """A CP-Mobile student (``system1``..``system3``, or ``cpmobile``) or the ``baseline``, with or without KD."""
        from asclab.distill import make_kd_hook

        p = self.profile
        hierarchy = registry.system(name).hierarchy if name in registry.SYSTEMS else "none"
        if kd:
            if name not in registry.SYSTEMS:
                raise ValueError(f"distillation needs a system (system1..system3) to name its teachers, got {name!r}")
            hook = make_kd_hook(self.ensemble_logits(name, split), p.kd_temperature, p.kd_weight)
            cfg = self.student_config(hierarchy, epochs=self.student_epochs(split), label_weight=1.0 - p.kd_weight)
            run_name, extra_key = name, ("kd", p.kd_temperature, p.kd_weight, self._teacher_keys(name, split))
        else:
            hook, cfg = None, self.student_config(hierarchy, epochs=self.student_epochs(split))
            # the student on labels alone is the same run whichever system it is compared with
            run_name = "baseline" if name == "baseline" else "cpmobile" if hierarchy == "none" else "cpmobile-ob"
            extra_key = ("labels",)
        model = registry.build_student("baseline" if name == "baseline" else "cpmobile")
        return self._run(run_name, split, model, cfg, extra_loss=hook, extra_key=extra_key)

    def _teacher_keys(self, system: str, split: int) -> list[str]:
        return [str(self.train_teacher(t, split).out_dir.name) for t in registry.system(system).teachers]

    def quantize_student(self, system: str, split: int) -> "QuantizedRun":
        """QAT (distillation continues, lr from the profile) and PTQ of a system's distilled student, as INT8."""
        from asclab import quantize
        from asclab.distill import make_kd_hook
        from asclab.evaluate import evaluate, predict

        p = self.profile
        student = self.train_student(system, split, kd=True)
        hook = make_kd_hook(self.ensemble_logits(system, split), p.kd_temperature, p.kd_weight)
        cfg = self.student_config(registry.system(system).hierarchy, epochs=p.qat_epochs, lr=p.qat_lr,
                                  label_weight=1.0 - p.kd_weight)
        key = storage.content_key("qat-v1", student.out_dir.name, cfg.key(), p.qat_freeze_epoch)
        out_dir = self.runs_dir / f"{system}-qat-split{split}-{key}"
        norm, train, test = self.normalizer(split), self.train_set(split), self.test_set
        qat_model, qat_int8, _ = quantize.qat_finetune(student.model, train, norm, cfg, out_dir, p.qat_freeze_epoch,
                                                      extra_loss=hook, key=key)
        ptq_int8 = quantize.ptq(student.model, train, norm, n_batches=p.calibration_batches,
                                batch_size=p.batch_size, seed=self.seed)
        with quantize.quiet():
            metrics = {
                "float": student.metrics,
                "ptq_int8": evaluate(predict(ptq_int8, test, norm, device="cpu"), test),
                "qat_int8": evaluate(predict(qat_int8, test, norm, device="cpu"), test),
            }
        return QuantizedRun(system, split, student, qat_model, qat_int8, ptq_int8, metrics, out_dir)


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

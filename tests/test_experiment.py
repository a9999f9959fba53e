"""The workspace: where data comes from, that runs are shared instead of retrained, and that the functions
a notebook trains with (notebook 05's KD term, notebook 06's freezing) are keyed and match the library's."""
import ast
import dataclasses
import linecache
from pathlib import Path

import nbformat
import pytest
import torch
import workspaces
from torch import nn

from asclab import distill, profiles, quantize, runs, storage
from asclab.augment import AugmentConfig
from asclab.data import FINE_TO_COARSE
from asclab.distill import make_kd_hook
from asclab.experiment import Run, Workspace, function_key, resolve_data_dir
from asclab.features import FeatureSet, Normalizer
from asclab.models import registry
from asclab.train import TrainConfig, TrainResult, train_model
from asclab.workbook import notebooks_dir


def test_paper_profile_needs_real_data():
    with pytest.raises(ValueError, match="DATA_DIR"):
        resolve_data_dir(profiles.get("paper"), None)


def test_explicit_data_dir_is_used_as_given(tmp_path):
    assert resolve_data_dir(profiles.get("paper"), tmp_path) == tmp_path


def test_teachers_without_audioset_weights_are_labelled():
    model = torch.nn.Linear(1, 1)
    assert Run("model1", 25, model, {"macro_acc": 0.5}, [], None).label == "model1 (not pre-trained)"
    pretrained = Run("model1", 25, model, {"macro_acc": 0.5}, [], None, pretrained_from="dymn10_as")
    assert pretrained.label == "model1"
    assert Run("system1", 25, model, {"macro_acc": 0.5}, [], None).label == "system1"


# --- run keys and shared runs (a tiny in-memory workspace: no audio, no feature cache) ----------------------

def tiny_workspace(home: Path, **profile_changes) -> Workspace:
    return workspaces.tiny_workspace(home, profiles.get("smoke").replace(**{
        "batch_size": 8, "teacher_epochs": 1, "student_epochs": 1, "qat_epochs": 1, "qat_freeze_epoch": 1,
        "student_min_steps": 0, "calibration_batches": 1, **profile_changes}))


@pytest.fixture
def stub_training(monkeypatch):
    """Replaces training with a stub: one forward pass in training mode (so that QAT observers see data),
    then the files of a finished run. Keys and caching at no cost; returns the run folders it trained."""
    calls = []

    def train_model(model, train_set, cfg, out_dir, normalizer, **kwargs):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        calls.append(out_dir.name)
        with torch.no_grad():
            model.train()(normalizer(train_set.x[:8]))
        storage.atomic_torch_save(model.state_dict(), out_dir / "model.pt")
        storage.write_json(out_dir / "metrics.json", {"macro_acc": 0.1})
        return TrainResult(model, [], {"macro_acc": 0.1}, None, out_dir)

    monkeypatch.setattr(runs, "train_model", train_model)
    return calls


def test_a_finished_run_is_loaded_not_retrained(tmp_path, monkeypatch):
    calls, real = [], runs.train_model

    def counted(*args, **kwargs):
        calls.append(Path(args[3]).name)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "train_model", counted)
    ws = tiny_workspace(tmp_path)
    first = ws.train_student("cpmobile", 100, kd=False)           # really trained, one epoch
    assert len(calls) == 1 and calls[0] == first.out_dir.name
    again = ws.train_student("cpmobile", 100, kd=False)
    reopened = tiny_workspace(tmp_path).train_student("cpmobile", 100, kd=False)   # another notebook
    assert len(calls) == 1
    assert again.out_dir == reopened.out_dir == first.out_dir
    for k, v in first.model.state_dict().items():
        assert torch.equal(reopened.model.state_dict()[k], v), k


def test_the_teacher_key_follows_the_dymn_width(tmp_path, stub_training):
    narrow = tiny_workspace(tmp_path).train_teacher("model1", 100, pretrained=False)
    wide = tiny_workspace(tmp_path, teacher_widths={1.0: 0.2, 2.0: 0.2}).train_teacher("model1", 100,
                                                                                       pretrained=False)
    assert narrow.model.width_mult == 0.1 and wide.model.width_mult == 0.2
    assert narrow.out_dir != wide.out_dir and len(stub_training) == 2
    assert tiny_workspace(tmp_path).train_teacher("model1", 100, pretrained=False).out_dir == narrow.out_dir
    assert len(stub_training) == 2


def test_the_student_key_follows_kd_settings_teachers_label_weight_and_hierarchy(tmp_path, monkeypatch,
                                                                                stub_training):
    def student_dir(**profile_changes) -> str:
        return tiny_workspace(tmp_path, **profile_changes).train_student("system1", 100, kd=True).out_dir.name

    base = student_dir()
    assert student_dir() == base                                  # the same configuration: loaded
    keys = {"KD temperature": student_dir(kd_temperature=3.0),
            "KD weight (and so the label weight)": student_dir(kd_weight=0.7)}
    with monkeypatch.context() as m:
        system = registry.SYSTEMS["system1"]
        m.setitem(registry.SYSTEMS, "system1", dataclasses.replace(system, teachers=("model1",)))
        keys["teacher set"] = student_dir()
        m.setitem(registry.SYSTEMS, "system1", dataclasses.replace(system, hierarchy="ob"))
        keys["hierarchy"] = student_dir()
    keys["a teacher's width"] = student_dir(teacher_widths={1.0: 0.1, 2.0: 0.3})
    with monkeypatch.context() as m:
        config = Workspace.student_config
        m.setattr(Workspace, "student_config",
                  lambda self, *args, **kw: config(self, *args, **{**kw, "label_weight": 0.3}))
        keys["label weight"] = student_dir()
    assert base not in keys.values()
    assert len(set(keys.values())) == len(keys), keys


def test_the_qat_run_is_keyed_and_shared(tmp_path, stub_training):
    first = tiny_workspace(tmp_path).quantize_student("system1", 100)
    trained = len(stub_training)
    assert tiny_workspace(tmp_path).quantize_student("system1", 100).out_dir == first.out_dir
    assert len(stub_training) == trained                          # nothing trained again
    other = tiny_workspace(tmp_path, qat_lr=1e-5).quantize_student("system1", 100)
    assert other.out_dir != first.out_dir and len(stub_training) == trained + 1


# --- the functions notebooks 05 and 06 write: the same loss and the same run keys as the library's -------

def notebook_function(notebook: str, name: str, rewrite=lambda source: source, **values):
    """The function ``name`` as a cell of ``notebook`` defines it, with ``values`` as the notebook's globals.

    Its source is registered with linecache, as IPython does for a cell, so that inspect.getsource reads it.
    ``rewrite`` edits the source first (another KD term). Returns ``(function, globals)``.
    """
    nb = nbformat.read(notebooks_dir() / notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or f"def {name}(" not in cell.source:
            continue
        node = next(n for n in ast.parse(cell.source).body
                    if isinstance(n, ast.FunctionDef) and n.name == name)
        source = rewrite(ast.get_source_segment(cell.source, node)) + "\n"
        filename = f"<{notebook} cell {cell.id} {id(rewrite)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace = {"__name__": "__main__", **values}
        exec(compile(source, filename, "exec"), namespace)
        return namespace[name], namespace
    raise AssertionError(f"{notebook} defines no function {name}()")


def notebook_kd_term(teacher_logits: torch.Tensor, T: float, alpha: float, rewrite=lambda source: source):
    """Notebook 05's kd_term, reading the ensemble's logits softened at T, as the notebook's loop sets it."""
    kd_term, _ = notebook_function("05_knowledge_distillation.ipynb", "kd_term", rewrite, distill=distill,
                                   T=T, alpha=alpha, teacher_probs=distill.soft_targets(teacher_logits, T))
    return kd_term


@pytest.mark.parametrize("mixed", [False, True])
def test_notebook_05_kd_term_gives_the_loss_and_gradient_of_make_kd_hook(mixed):
    g = torch.Generator().manual_seed(0)
    teacher, student = 3.0 * torch.randn(40, 10, generator=g), torch.randn(8, 10, generator=g)
    index = torch.randperm(40, generator=g)[:8]
    perm, lam = (torch.randperm(8, generator=g), 0.7) if mixed else (None, 1.0)
    kd_term, hook = notebook_kd_term(teacher, 2.0, 0.5), make_kd_hook(teacher, 2.0, 0.5)
    ours, theirs = student.clone().requires_grad_(), student.clone().requires_grad_()
    loss, expected = kd_term(ours, index, perm, lam), hook(theirs, index, perm, lam)
    assert torch.equal(loss, expected)                               # bit for bit, not approximately
    loss.backward()
    expected.backward()
    assert torch.equal(ours.grad, theirs.grad)
    assert function_key(kd_term) == function_key(hook)              # same code, same values: same key


def test_notebook_05_kd_term_trains_the_same_weights_as_make_kd_hook(tmp_path):
    """Through the trainer, with Mixup on so that mixed targets are used: the same weights, bit for bit."""
    g = torch.Generator().manual_seed(1)
    n = 32
    y = torch.arange(n) % 10
    train_set = FeatureSet(x=torch.randn(n, 1, 16, 8, generator=g), y=y,
                           y_coarse=torch.tensor([FINE_TO_COARSE[i] for i in y.tolist()]), devices=["a"] * n,
                           filenames=[f"audio/k-{i}.wav" for i in range(n)], cities=["c"] * n,
                           locations=["l"] * n)
    teacher, norm = 3.0 * torch.randn(n, 10, generator=g), Normalizer().fit(train_set.x)
    cfg = TrainConfig(epochs=2, lr=1e-2, batch_size=8, seed=0, progress=False, device="cpu", label_weight=0.5,
                      augment=AugmentConfig(mix="mixup", mix_p=1.0, freq_mask_p=0.0, mixstyle_p=0.0))

    def train(kd) -> dict:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
        return train_model(model, train_set, cfg, tmp_path / str(len(list(tmp_path.iterdir()))), norm,
                           extra_loss=kd).model.state_dict()

    ours, theirs = train(notebook_kd_term(teacher, 2.0, 0.5)), train(make_kd_hook(teacher, 2.0, 0.5))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_notebook_05_kd_term_loads_the_kd_true_run(tmp_path, stub_training):
    ws = tiny_workspace(tmp_path)
    p = ws.profile
    library = ws.train_student("system1", 100, kd=True)
    trained = len(stub_training)
    kd_term = notebook_kd_term(ws.ensemble_logits("system1", 100), p.kd_temperature, p.kd_weight)
    ours = ws.train_student("system1", 100, kd=kd_term, label_weight=1 - p.kd_weight)
    assert ours.out_dir == library.out_dir and len(stub_training) == trained


def test_the_student_key_follows_the_kd_term(tmp_path, stub_training):
    """Another temperature, weight, teacher logits or code is another run; the same term again is loaded."""
    ws = tiny_workspace(tmp_path)
    p = ws.profile
    logits = ws.ensemble_logits("system1", 100)
    changed = logits.clone()
    changed[3, 4] += 0.5                                          # one teacher logit of one clip

    def student_dir(teacher=logits, T=p.kd_temperature, alpha=p.kd_weight, rewrite=lambda source: source):
        kd_term = notebook_kd_term(teacher, T, alpha, rewrite)
        return ws.train_student("system1", 100, kd=kd_term, label_weight=1 - p.kd_weight).out_dir.name

    base = student_dir()
    keys = {"temperature": student_dir(T=3.0), "KD weight": student_dir(alpha=0.7),
            "teacher logits": student_dir(teacher=changed),
            "code (no T^2)": student_dir(rewrite=lambda s: s.replace("teacher_probs=target)",
                                                                  "teacher_probs=target) / T ** 2")),
            "code (no mixed targets)": student_dir(rewrite=lambda s: s.replace("if perm is not None:",
                                                                             "if False:"))}
    assert base not in keys.values() and len(set(keys.values())) == len(keys), keys
    trained = len(stub_training)
    assert student_dir(T=3.0) == keys["temperature"] and len(stub_training) == trained


def test_a_runs_initial_weights_follow_its_name_split_and_seed_not_what_ran_before(tmp_path, monkeypatch,
                                                                                 stub_training):
    """Initial weights come from a generator seeded by (workspace seed, run name, split): a kd_term student
    starts where a kd=True one does, whatever the notebook read or trained before it (which the run key
    cannot see), and another seed or split starts elsewhere."""
    starts, real = [], runs.train_model

    def record_start(model, *args, **kwargs):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return real(model, *args, **kwargs)

    monkeypatch.setattr(runs, "train_model", record_start)

    def student_start(home: Path, with_kd_term: bool, extra_reads: int = 0, seed: int = 0,
                      split: int = 100) -> dict:
        torch.manual_seed(0)
        ws = tiny_workspace(home)
        ws.seed = seed
        p = ws.profile
        if not with_kd_term:
            ws.train_student("system1", split, kd=True)
            return starts[-1]
        for _ in range(extra_reads):
            ws.ensemble_logits("system1", split)
            torch.randn(1000)                                       # and anything else a cell draws
        kd_term = notebook_kd_term(ws.ensemble_logits("system1", split), p.kd_temperature, p.kd_weight)
        ws.train_student("system1", split, kd=kd_term, label_weight=1 - p.kd_weight)
        return starts[-1]

    def same(a: dict, b: dict) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    library = student_start(tmp_path / "a", False)
    assert same(library, student_start(tmp_path / "b", True))
    assert same(library, student_start(tmp_path / "c", True, extra_reads=2))
    assert not same(library, student_start(tmp_path / "d", True, seed=1))
    assert not same(library, student_start(tmp_path / "e", True, split=50))
    ws = tiny_workspace(tmp_path / "g")
    before = torch.random.get_rng_state()
    ws.build("cpmobile", 100, lambda: registry.build_student("cpmobile"))
    assert torch.equal(before, torch.random.get_rng_state())          # building leaves the caller's generator


def test_a_kd_term_reading_what_a_key_cannot_record_is_an_error(tmp_path):
    ws = tiny_workspace(tmp_path)

    def kd_term(student_logits, batch_index, perm=None, lam=1.0):
        return ws.profile.kd_weight * student_logits.sum()

    with pytest.raises(TypeError, match="reads 'ws'.*Workspace"):
        function_key(kd_term)
    namespace = {}
    exec("def no_source(z, i, perm=None, lam=1.0):\n    return z.sum()\n", namespace)
    with pytest.raises(ValueError, match="cannot read the code of no_source"):
        function_key(namespace["no_source"])


def prepare_as_notebook_06(student: Run) -> nn.Module:
    model = quantize.fuse_conv_bn(student.model, train=True)
    quantize.set_qconfig(model, qat=True)
    return quantize.insert_fake_quant(model)


def notebook_freeze_late(freeze_epoch: int):
    freeze_late, _ = notebook_function("06_quantization_aware_training.ipynb", "freeze_late",
                                       quantize=quantize, freeze_epoch=freeze_epoch)
    return freeze_late


def test_notebook_06_steps_share_the_qat_run_of_quantize_student(tmp_path, stub_training):
    ws = tiny_workspace(tmp_path)
    p = ws.profile
    q = ws.quantize_student("system1", 100)
    trained = len(stub_training)
    student = ws.train_student("system1", 100, kd=True)
    kd_term = make_kd_hook(ws.ensemble_logits("system1", 100), p.kd_temperature, p.kd_weight)
    freeze_late = notebook_freeze_late(p.qat_freeze_epoch)
    assert function_key(freeze_late) == function_key(quantize.freeze_from(p.qat_freeze_epoch))
    prepared = prepare_as_notebook_06(student)
    qat = ws.train_qat(student, prepared, kd=kd_term, on_epoch_start=freeze_late)
    assert qat.out_dir == q.out_dir and len(stub_training) == trained
    again = ws.train_qat(student, prepared, kd=kd_term, on_epoch_start=freeze_late)   # the cell run twice
    assert again.out_dir == q.out_dir and len(stub_training) == trained


def test_the_qat_key_follows_the_kd_term_the_freeze_epoch_and_the_starting_weights(tmp_path, stub_training):
    ws = tiny_workspace(tmp_path)
    p = ws.profile
    student = ws.train_student("system1", 100, kd=True)
    logits = ws.ensemble_logits("system1", 100)

    library_kd = make_kd_hook(logits, p.kd_temperature, p.kd_weight)

    def qat_dir(kd=library_kd, freeze_epoch=p.qat_freeze_epoch, prepared=None) -> str:
        prepared = prepare_as_notebook_06(student) if prepared is None else prepared
        run = ws.train_qat(student, prepared, kd=kd, on_epoch_start=notebook_freeze_late(freeze_epoch))
        return run.out_dir.name

    base = qat_dir()
    nudged = prepare_as_notebook_06(student)
    with torch.no_grad():
        next(nudged.parameters())[0].add_(0.01)
    keys = {"KD temperature": qat_dir(kd=make_kd_hook(logits, 3.0, p.kd_weight)),
            "no KD": qat_dir(kd=None),
            "freeze epoch": qat_dir(freeze_epoch=p.qat_freeze_epoch + 1),
            "starting weights": qat_dir(prepared=nudged)}
    assert base not in keys.values() and len(set(keys.values())) == len(keys), keys

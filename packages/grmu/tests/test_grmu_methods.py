"""MIU's mechanics: frozen critics, two estimators, the detached original, the forget pass's sign."""

import copy
import importlib
import math

import pytest
import torch

from paperzoo.grmu.config import DataConfig, ModelConfig, TrainConfig, UnlearnConfig
from paperzoo.grmu.data import forget_split, index_batches, make_splits
from paperzoo.grmu.methods import APPROXIMATE, UnlearnTask
from paperzoo.grmu.methods import miu as miu_fn
from paperzoo.grmu.methods.common import set_epoch_lr
from paperzoo.grmu.methods.common import sgd as common_sgd
from paperzoo.grmu.mine import MutualInformation, tune
from paperzoo.grmu.model import ResNet18, SmallCNN, build_model
from paperzoo.grmu.module import train_classifier


@pytest.fixture(scope="module")
def setup():
    splits = make_splits(DataConfig(n_train=1500, n_val=200, n_test=400), seed=0)
    gen = torch.Generator().manual_seed(0)
    forget, retain = forget_split(splits["train"], (1, 0), 0.9, gen)
    original = train_classifier(splits["train"], ModelConfig(), TrainConfig(epochs=2), gen)
    return splits, UnlearnTask(splits["train"], forget, retain, reweight=True), original


def test_model_shapes_and_errors():
    model = SmallCNN()
    assert model.features(torch.randn(2, 3, 16, 16)).shape == (2, 64)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"x: expected shape \[B, 3, 16, 16\]"):
        model(torch.randn(2, 1, 16, 16))


def test_weighted_sampler_follows_reweight(setup):
    _, task, _ = setup
    weights = task.retain_sample_weights()
    gen = torch.Generator().manual_seed(0)
    idx = torch.cat([i for _ in range(20) for i in index_batches(weights.numel(), 256, gen, weights)])
    g = task.train.g[task.retain_idx][idx]
    freq = torch.bincount(g, minlength=4).float() / g.numel()
    target = torch.bincount(task.train.g, minlength=4).float() / len(task.train)
    torch.testing.assert_close(freq, target, atol=0.01, rtol=0)


@pytest.mark.parametrize("name", list(APPROXIMATE))
def test_every_method_runs_and_leaves_the_original_untouched(setup, name):
    _, task, original = setup
    before = copy.deepcopy(original.state_dict())
    cfg = UnlearnConfig(epochs=1, forgetting_epochs=1, mine_warmup_batches=5, mine_batches=2, mine_hidden=32)
    model = APPROXIMATE[name](original, task, cfg, torch.Generator().manual_seed(0))
    for key, value in original.state_dict().items():
        assert torch.equal(value, before[key]), f"{name} changed the original model's {key}"
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert torch.isfinite(model(task.train.x[:8])).all()


def test_miu_forget_pass_lowers_the_critics_bound_on_the_forget_set(setup):
    """One forget epoch (no retain pass) must move the forget features down the frozen critic's DV bound."""
    _, task, original = setup
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    est = MutualInformation(64, 4, hidden=64)
    batches = [(task.train.x[i : i + 128], task.train.g[i : i + 128]) for i in range(0, 1500, 128)] * 5
    tune(est, original.features, batches, 0.01, generator=gen)
    forget = task.forget
    before = est(original.features(forget.x), forget.g, torch.Generator().manual_seed(1)).item()
    model = copy.deepcopy(original)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    est.requires_grad_(False)
    for _ in range(50):
        loss = est(model.features(forget.x), forget.g, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = est(model.features(forget.x), forget.g, torch.Generator().manual_seed(1)).item()
    assert after < before - 0.1


def test_miu_keeps_the_critics_frozen_during_model_steps(setup, monkeypatch):
    """The critics move only in their own DV ascent (tune), never through the unlearning losses."""
    _, task, original = setup
    # The package re-exports the function under the module's name; fetch the module itself.
    miu_module = importlib.import_module("paperzoo.grmu.methods.miu")

    last: dict[int, list[torch.Tensor]] = {}
    calls = []
    real_tune = miu_module.tune

    def spy_tune(estimator, *args, **kwargs):
        if id(estimator) in last:
            # Between two tunings only the model stepped: the critic must be exactly where tuning left it.
            for p, q in zip(estimator.parameters(), last[id(estimator)]):
                assert torch.equal(p, q)
        out = real_tune(estimator, *args, **kwargs)
        last[id(estimator)] = [p.detach().clone() for p in estimator.parameters()]
        calls.append(id(estimator))
        return out

    monkeypatch.setattr(miu_module, "tune", spy_tune)
    cfg = UnlearnConfig(epochs=2, forgetting_epochs=2, mine_warmup_batches=3, mine_batches=2, mine_hidden=32)
    miu_fn(original, task, cfg, torch.Generator().manual_seed(0))
    assert len(calls) == 4  # two epochs, two estimators
    assert len(last) == 2  # ψ_u and ψ_o are distinct estimators


def test_bad_schedule(setup):
    _, task, original = setup
    with pytest.raises(ValueError, match="schedule: expected"):
        miu_fn(original, task, UnlearnConfig(schedule="bogus"), torch.Generator())


def test_cosine_lr_schedule_anneals_per_epoch_and_constant_stays():
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    cosine = UnlearnConfig(epochs=4, lr=0.01, lr_schedule="cosine")
    lrs = []
    for epoch in range(4):
        set_epoch_lr(opt, cosine, epoch)
        lrs.append(opt.param_groups[0]["lr"])
    # 0.5·lr·(1 + cos(π e / E)) for e = 0..3: full rate first, strictly decreasing, the last epoch small.
    assert lrs == pytest.approx([0.01, 0.5 * 0.01 * (1 + 2**-0.5), 0.005, 0.5 * 0.01 * (1 - 2**-0.5)])
    set_epoch_lr(opt, UnlearnConfig(epochs=4, lr=0.01, lr_schedule="constant"), 3)
    assert opt.param_groups[0]["lr"] == 0.01
    with pytest.raises(ValueError, match="lr_schedule: expected 'constant' or 'cosine'"):
        set_epoch_lr(opt, UnlearnConfig(lr_schedule="step"), 0)


@pytest.mark.parametrize("epochs", [1, 3, 4, 10, 7])
def test_cosine_lr_schedule_is_the_shared_cosine_per_epoch(epochs):
    """The per-epoch cosine is ``warmup_cosine(0, epochs)`` and gives exactly 0.5·lr·(1 + cos(π e / E))."""
    opt = torch.optim.SGD(SmallCNN().parameters(), lr=1.0)
    cfg = UnlearnConfig(epochs=epochs, forgetting_epochs=0, lr=0.01, lr_schedule="cosine")
    for epoch in range(epochs):
        set_epoch_lr(opt, cfg, epoch)
        assert opt.param_groups[0]["lr"] == 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / epochs))


@pytest.mark.parametrize("name", list(APPROXIMATE))
def test_every_method_follows_the_lr_schedule(setup, name, monkeypatch):
    """Each approximate method sets its epoch's rate through ``set_epoch_lr``: one budget for all."""
    _, task, original = setup
    seen = []
    module = importlib.import_module(
        "paperzoo.grmu.methods.miu" if name == "miu" else "paperzoo.grmu.methods.baselines"
    )
    real = module.set_epoch_lr
    monkeypatch.setattr(module, "set_epoch_lr", lambda opt, cfg, epoch: (seen.append(epoch), real(opt, cfg, epoch)))
    cfg = UnlearnConfig(epochs=2, forgetting_epochs=1, mine_warmup_batches=2, mine_batches=1, mine_hidden=16)
    APPROXIMATE[name](original, task, cfg, torch.Generator().manual_seed(0))
    assert seen == [0, 1]


def test_resnet18_shapes_errors_and_torchvision_style_checkpoint(tmp_path):
    model = ResNet18(ModelConfig(arch="resnet18", size=32))
    assert model.features(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"x: expected shape \[B, 3, 32, 32\]"):
        model(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="at least 32 px"):
        ModelConfig(arch="resnet18", size=16)
    # An ImageNet-style checkpoint: the same names, a 1000-way fc that must not be loaded.
    source = ResNet18(ModelConfig(arch="resnet18", size=32, n_classes=1000))
    torch.save(source.state_dict(), tmp_path / "resnet18.pt")
    loaded = build_model(ModelConfig(arch="resnet18", size=32, weights=str(tmp_path / "resnet18.pt")))
    for key, value in source.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.fc.out_features == 2
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a ResNet-18 backbone"):
        build_model(ModelConfig(arch="resnet18", size=32, weights=str(tmp_path / "other.pt")))
    with pytest.raises(FileNotFoundError, match="weights: no checkpoint at"):
        build_model(ModelConfig(arch="resnet18", size=32, weights=str(tmp_path / "missing.pt")))
    with pytest.raises(ValueError, match="arch: expected one of cnn, resnet18"):
        ModelConfig(arch="vit")
    with pytest.raises(ValueError, match="only arch 'resnet18' loads a checkpoint"):
        ModelConfig(arch="cnn", weights=str(tmp_path / "resnet18.pt"))


def test_miu_runs_on_resnet18():
    splits = make_splits(DataConfig(n_train=300, n_val=40, n_test=40, size=32), seed=0)
    gen = torch.Generator().manual_seed(0)
    forget, retain = forget_split(splits["train"], (1, 0), 0.9, gen)
    task = UnlearnTask(splits["train"], forget, retain, reweight=True)
    original = train_classifier(splits["train"], ModelConfig(arch="resnet18", size=32), TrainConfig(epochs=1), gen)
    cfg = UnlearnConfig(epochs=1, forgetting_epochs=1, mine_warmup_batches=2, mine_batches=1, mine_hidden=16)
    model = miu_fn(original, task, cfg, gen)
    assert isinstance(model, ResNet18)
    assert torch.isfinite(model.features(splits["test"].x)).all()


def _step_grad_norms(monkeypatch, original, task, cfg) -> list[float]:
    """The gradient norm of the model at every optimizer step of one MIU run."""
    miu_module = importlib.import_module("paperzoo.grmu.methods.miu")
    norms: list[float] = []
    real_sgd = common_sgd

    def spy_sgd(model, *args, **kwargs):
        opt = real_sgd(model, *args, **kwargs)
        real_step = opt.step

        def step(*a, **k):
            grads = [p.grad.norm() for p in model.parameters() if p.grad is not None]
            norms.append(float(torch.stack(grads).norm()))
            return real_step(*a, **k)

        opt.step = step
        return opt

    monkeypatch.setattr(miu_module, "sgd", spy_sgd)
    miu_fn(original, task, cfg, torch.Generator().manual_seed(0))
    return norms


def test_miu_clips_its_retain_steps(setup, monkeypatch):
    """The retain steps (cross-entropy + calibration) are clipped to ``retain_clip``; 0 leaves them as they are."""
    _, task, original = setup
    base = UnlearnConfig(epochs=1, forgetting_epochs=0, mine_warmup_batches=3, mine_batches=2, mine_hidden=32)
    clipped = _step_grad_norms(monkeypatch, original, task, UnlearnConfig(**{**base.__dict__, "retain_clip": 0.05}))
    free = _step_grad_norms(monkeypatch, original, task, UnlearnConfig(**{**base.__dict__, "retain_clip": 0.0}))
    assert len(clipped) == len(free) > 5
    assert max(clipped) <= 0.05 + 1e-5
    assert max(free) > 0.1

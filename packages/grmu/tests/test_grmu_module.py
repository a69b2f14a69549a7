"""PretrainModule and train_classifier: the one way a classifier is trained, in fit and in reproduce."""

import torch
import torch.nn.functional as F

from paperzoo.core import quiet_trainer
from paperzoo.grmu.cli import main
from paperzoo.grmu.config import DataConfig, ModelConfig, SGDConfig, TrainConfig
from paperzoo.grmu.data import index_batches, make_splits, train_loader
from paperzoo.grmu.model import build_model
from paperzoo.grmu.module import PretrainModule, train_classifier

DATA = DataConfig(n_train=300, n_val=50, n_test=50)


def test_train_classifier_is_a_plain_sgd_loop():
    """Lightning adds nothing to the loop ``reproduce`` was measured with: the same weights, bit for bit, and the
    same state of the batch generator and of torch's global generator afterwards (later stages draw from both)."""
    train = make_splits(DATA, seed=0)["train"]
    budget = TrainConfig(epochs=2, batch_size=64)
    weights = torch.rand(len(train), generator=torch.Generator().manual_seed(3))
    for w in (None, weights):
        gen = torch.Generator().manual_seed(11)
        model = train_classifier(train, ModelConfig(), budget, gen, w)
        after = (gen.get_state(), torch.get_rng_state())

        gen = torch.Generator().manual_seed(11)
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        reference = build_model(ModelConfig())
        opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 2 * 5)
        for _ in range(2):
            for idx in index_batches(len(train), 64, gen, w):
                loss = F.cross_entropy(reference(train.x[idx]), train.y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        for key, value in reference.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), key
        assert torch.equal(after[0], gen.get_state())
        assert torch.equal(after[1], torch.get_rng_state())
        assert not model.training


def test_fit_trains_as_train_classifier_does(tmp_path, monkeypatch):
    """``fit`` (its trainer with validation, logger, checkpoints and bar) trains the weights a quiet trainer gets
    from the same PretrainModule and training loader, the two pieces ``train_classifier`` is made of."""
    monkeypatch.chdir(tmp_path)
    data = [f"--data.data.{k}={v}" for k, v in (("n_train", 300), ("n_val", 50), ("n_test", 50))]
    args = ["fit", "--trainer.max_epochs=2", "--seed_everything=5", "--data.seed=9", "--data.batch_size=64", *data]
    assert main(args) == 0
    (ckpt,) = tmp_path.glob("runs/grmu/version_0/checkpoints/*.ckpt")
    fitted = PretrainModule.load_from_checkpoint(ckpt)

    torch.manual_seed(5)
    module = PretrainModule(ModelConfig(), SGDConfig())
    loader = train_loader(make_splits(DATA, seed=9)["train"], 64, torch.Generator().manual_seed(9))
    quiet_trainer(max_epochs=2).fit(module, train_dataloaders=loader)
    for key, value in module.state_dict().items():
        assert torch.equal(fitted.state_dict()[key], value), key
    torch.manual_seed(5)
    untrained = PretrainModule()
    assert not torch.equal(fitted.model.fc.weight, untrained.model.fc.weight)


def test_unbounded_fit_keeps_the_rate():
    module = PretrainModule()
    config = module.optim.build(module.parameters(), float("inf"))
    assert set(config) == {"optimizer"}
    assert config["optimizer"].param_groups[0]["lr"] == 0.05

"""Mechanism test: a reduced acceptance experiment on the reference-frame mechanism.

After a short run, camera 1 must come out at the identity while the other cameras do not: the world is
anchored to camera 1 by its own camera and register tokens. With one token set shared by every frame the
model cannot tell frame 1 apart, predicts it like the others, and this test fails.
"""

from dataclasses import replace

from paperzoo.vggt.reproduce import FULL, train_and_evaluate

MECHANISM = replace(FULL, num_train=256, num_val=32, steps=150)


def test_camera_one_anchors_the_world():
    datamodule = MECHANISM.datamodule(seed=7)
    datamodule.setup("fit")
    metrics = train_and_evaluate(MECHANISM, "aa", 7, datamodule)
    summary = {k: round(v, 3) for k, v in metrics.items()}
    assert metrics["ref_rot_deg"] < 5, summary
    assert metrics["ref_trans"] < 0.1, summary
    assert metrics["other_rot_deg"] > 2 * metrics["ref_rot_deg"], summary

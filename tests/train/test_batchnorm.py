"""BatchNorm statistics re-estimated under the behavioral simulation."""

from __future__ import annotations

import torch
from approxhil.nn import approx_layers
from approxhil.train.batchnorm import recalibrate_batchnorm
from approxhil.workflow import approximate_network, make_batches


def test_running_stats_follow_the_behavioral_outputs(float_digits, digits) -> None:
    approx = approximate_network(float_digits, "2222", make_batches("digits_cnn", digits.train, 64, train=False))
    batches = make_batches("digits_cnn", digits.train, 100, train=False)
    conv1 = approx_layers(approx)["conv1"]
    outputs = []
    handle = conv1.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    approx.eval()
    seen = recalibrate_batchnorm(approx, batches, 500)
    handle.remove()
    assert seen == 500 and not approx.training
    assert conv1.mode == "behavioral" and approx.bn1.momentum == 0.1
    mean = torch.stack([o.mean((0, 2, 3)) for o in outputs]).mean(0)  # equal batches: mean of batch means
    torch.testing.assert_close(approx.bn1.running_mean, mean, rtol=1e-5, atol=1e-6)
    assert int(approx.bn1.num_batches_tracked) == 5

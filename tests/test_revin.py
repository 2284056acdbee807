"""Reversible instance normalisation (RevIN, Kim et al. 2022) around the global networks."""

import numpy as np
import pytest
import torch
from torch import nn

from metacompose.errors import InputError
from metacompose.models import MLP, NBEATS
from metacompose.models.networks import MLPNet, RevIN
from metacompose.models.training import init_parameters
from metacompose.testing import check_forecaster
from tests.test_models_neural import FAST_MLP, H, sine_panel, smape


def test_revin_forecasts_are_affine_equivariant_and_a_silent_network_gives_the_window_mean():
    torch.manual_seed(0)
    net = RevIN(MLPNet(8, 3, [16]))
    with torch.no_grad():
        net.gamma.fill_(1.7)
        net.beta.fill_(-0.3)
    x = torch.rand(5, 8, dtype=torch.float64) * 4 + 1
    net = net.double()
    with torch.no_grad():
        base, moved = net(x), net(2.5 * x + 7.0)
    np.testing.assert_allclose(moved.numpy(), 2.5 * base.numpy() + 7.0, rtol=1e-6)

    class Silent(nn.Module):
        def forward(self, z):
            return torch.zeros(z.shape[0], 3, dtype=z.dtype)

    with torch.no_grad():
        out = RevIN(Silent()).double()(x)
    np.testing.assert_allclose(out.numpy(), x.mean(dim=1, keepdim=True).expand(-1, 3).numpy(), rtol=1e-12)


def test_init_parameters_resets_revin_to_the_identity_and_draws_the_rest():
    net = RevIN(MLPNet(6, 2, [4]))
    with torch.no_grad():
        net.gamma.fill_(3.0)
        net.beta.fill_(1.0)
    init_parameters(net, torch.Generator().manual_seed(0))
    assert net.gamma.item() == 1.0 and net.beta.item() == 0.0


def test_mlp_with_revin_learns_its_affine_map_and_beats_naive():
    train, test = sine_panel()
    model = MLP(**FAST_MLP, revin=True, horizon=H).fit_panel(train)
    fc = model.predict_panel(H)
    naive = np.array([np.full(H, y[-1]) for y in train])
    assert smape(test, fc) < 0.3 * smape(test, naive)
    net = model._nets[H]
    assert isinstance(net, RevIN) and (net.gamma.item() != 1.0 or net.beta.item() != 0.0)  # trained, not fixed
    assert model.get_params()["revin"] is True and model.clone().revin is True


@pytest.mark.parametrize("cls", [MLP, NBEATS])
@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_revin_must_be_a_bool(cls, bad):
    with pytest.raises(InputError, match="revin must be True or False"):
        cls(revin=bad)


@pytest.mark.parametrize("cls, kw", [(MLP, dict(steps=20)), (NBEATS, dict(steps=20, width=16, blocks=1, layers=2))])
def test_networks_with_revin_pass_the_conformance_check(cls, kw):
    check_forecaster(cls(season_length=4, revin=True, **kw))

import numpy as np
import pytest

from reproduce.train.models import hidden_layer_widths, paper_model


def test_deep_higgs_net_has_279901_parameters():
    assert paper_model("deep", 28, seed=1).count_params() == 279_901


def test_shallow_widths_and_deep_depths():
    assert hidden_layer_widths("shallow", 1000) == [1000]
    assert hidden_layer_widths("deep") == [300] * 4
    assert hidden_layer_widths("deep", depth=6) == [300] * 6
    # 28-300-1: 28*300+300 + 300+1
    assert paper_model("shallow", 28, seed=1).count_params() == 28 * 300 + 300 + 301
    with pytest.raises(ValueError, match="depth"):
        hidden_layer_widths("deep", depth=7)
    with pytest.raises(ValueError, match="unknown model"):
        hidden_layer_widths("wide")


def test_initialization_follows_the_paper():
    net = paper_model("deep", 28, seed=3)
    kernels = [layer.kernel.numpy() for layer in net.layers if hasattr(layer, "kernel")]
    assert np.std(kernels[0]) == pytest.approx(0.1, rel=0.03)
    for kernel in kernels[1:-1]:
        assert np.std(kernel) == pytest.approx(0.05, rel=0.03)
    assert np.std(kernels[-1]) == pytest.approx(0.001, rel=0.25)
    for layer in net.layers:
        if hasattr(layer, "bias"):
            assert not layer.bias.numpy().any()
    assert [layer.activation.__name__ for layer in net.layers[1:]] == ["tanh"] * 4 + ["sigmoid"]


def test_weight_decay_is_l2_on_weights_only():
    net = paper_model("shallow", 5, seed=1)
    penalty = float(sum(loss.numpy() for loss in net.losses))
    kernels = [layer.kernel.numpy() for layer in net.layers if hasattr(layer, "kernel")]
    assert penalty == pytest.approx(1e-5 * sum(np.sum(k.astype(np.float64) ** 2)
                                               for k in kernels), rel=1e-5)


def test_dropout_variant_drops_top_layer_without_weight_decay():
    net = paper_model("deep", 10, seed=1, dropout=True)
    assert not net.losses
    dropout = net.get_layer("dropout_top")
    assert dropout.rate == 0.5
    assert net.layers[net.layers.index(dropout) - 1].name == "hidden_4"


def test_same_seed_same_weights_other_seed_different():
    a = paper_model("deep", 28, seed=7).get_weights()
    b = paper_model("deep", 28, seed=7).get_weights()
    c = paper_model("deep", 28, seed=8).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_six_layer_network_of_the_supplementary_table():
    # "DN 6 layers" of Supp. Table 3 = 5 hidden layers + output
    net = paper_model("deep", 28, seed=1, depth=5)
    assert net.count_params() == 279_901 + 300 * 300 + 300

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from aura_eval.core.auroc import auroc


@pytest.mark.parametrize("chunk_units", [1, 7, 8192])
def test_auroc_matches_sklearn_with_ties(chunk_units):
    g = torch.Generator().manual_seed(0)
    n, units = 97, 40
    x = torch.randint(0, 4, (n, units), generator=g).float()  # heavy ties
    x[:, :10] = torch.randn(n, 10, generator=g)  # no ties
    x[:, 10] = 1.0  # constant unit: AUROC 0.5
    y = torch.randint(0, 2, (n,), generator=g)
    ours = auroc(x, y, chunk_units=chunk_units).numpy()
    ref = np.array([roc_auc_score(y.numpy(), x[:, j].numpy()) for j in range(units)])
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert ours[10] == pytest.approx(0.5)


def test_perfect_and_inverse_separation():
    y = torch.tensor([0, 0, 1, 1])
    x = torch.tensor([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    assert auroc(x, y).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0, 0]])
def test_one_class_is_a_clear_error(labels):
    with pytest.raises(ValueError, match="both classes"):
        auroc(torch.randn(3, 2), torch.tensor(labels))


def test_bad_inputs():
    with pytest.raises(ValueError, match="0 \\(non-toxic\\) or 1"):
        auroc(torch.randn(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="samples"):
        auroc(torch.randn(4, 2), torch.tensor([0, 1, 1]))
    x = torch.randn(4, 2)
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        auroc(x, torch.tensor([0, 1, 0, 1]))

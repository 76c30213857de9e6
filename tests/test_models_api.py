"""Contract tests for `fairkd_nb.models` and `fairkd_nb.heads`: the names and signatures other notebooks import."""
import inspect

import pytest
import torch

from fairkd_nb.models import MODELS, build_model, count_params
from fairkd_nb.heads import ArcFace, CosFace, ElasticArcFace, margin_logits, build_head

torch.set_num_threads(1)


def test_build_model_signature():
    sig = inspect.signature(build_model)
    for k, default in dict(n_classes=None, emb=512, width=1.0, in_size=112, dropout=0.0).items():
        assert sig.parameters[k].kind is inspect.Parameter.KEYWORD_ONLY
        assert sig.parameters[k].default == default
    assert set(MODELS) == {"iresnet18", "iresnet34", "iresnet50", "iresnet100", "mobilefacenet",
                           "resnet18", "resnet34", "resnet50", "shufflenet_v2", "cnn"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_the_interface(name):
    m = build_model(name, width=0.25, in_size=32, emb=24).eval()
    with torch.no_grad():
        f = m.features(torch.randn(2, 3, 32, 32))
        out = m(torch.randn(2, 3, 32, 32))
    assert set(f) >= {"stages", "pooled", "out"}
    assert out.shape == (2, 24) == f["out"].shape and m.out_dim == 24
    assert f["pooled"].shape == (2, m.pooled_dim)
    assert [t.shape[1] for t in f["stages"]] == m.stage_channels
    assert count_params(m) > 0


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match="Did you mean 'mobilefacenet'"):
        build_model("mobilefacenett")


def test_heads_contract():
    emb, y = torch.randn(4, 16), torch.tensor([0, 1, 2, 1])
    for cls in (ArcFace, CosFace, ElasticArcFace):
        h = cls(16, 3)
        assert h.kernel.shape == (16, 3)
        lg = h(emb, y)
        assert lg.shape == (4, 3) and lg.dtype == torch.float32
        # external centres, one per row (C, emb), override the kernel of another head
        other = cls(16, 3)
        lab = None if cls is ElasticArcFace else y  # elastic draws fresh margins per call
        assert torch.allclose(other(emb, lab, centres=h.kernel.detach().t()), h(emb, lab), atol=1e-5)
    cos = torch.rand(4, 3) * 2 - 1
    assert torch.allclose(margin_logits(cos, y, kind="cos", s=64.0, m=0.35)[torch.arange(4), y],
                          64 * (cos[torch.arange(4), y] - 0.35), atol=1e-4)
    assert isinstance(build_head("arcface", 16, 3, trainable=False), ArcFace)

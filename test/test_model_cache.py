"""The cached per-frame step (template keys/values computed once) equals the full forward."""

import pytest
import torch

from mixformerv2_ros.model import BASE, SMALL, MixFormerV2, load_checkpoint


def _random_inputs(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(2, 3, cfg.template_size, cfg.template_size, generator=g)
    o = torch.randn(2, 3, cfg.template_size, cfg.template_size, generator=g)
    s = torch.randn(2, 3, cfg.search_size, cfg.search_size, generator=g)
    return t, o, s


def _assert_cached_equals_full(model, seed=0):
    t, o, s = _random_inputs(model.config, seed)
    with torch.no_grad():
        full = model(t, o, s)
        cache = model.encode_templates(t, o)
        step = model.forward_cached(cache, s)
    assert cache.shape == (model.config.depth, 2, 2, model.config.num_heads,
                           2 * model.config.template_tokens, model.config.head_dim)
    for key in ("boxes_cxcywh", "score_logit", "probs"):
        torch.testing.assert_close(step[key], full[key], rtol=0, atol=1e-5)


@pytest.mark.parametrize("config", [SMALL, BASE], ids=["S-depth4", "B-depth8"])
def test_full_depth_random_weights(config):
    torch.manual_seed(0)
    model = MixFormerV2(config).eval()
    for p in model.parameters():  # break the near-uniform default init so outputs differ
        p.data.add_(torch.randn_like(p) * 0.02)
    _assert_cached_equals_full(model)


@pytest.mark.parametrize("variant", ["small", "base"])
def test_golden_checkpoints(golden_dir, variant):
    _assert_cached_equals_full(load_checkpoint(golden_dir / f"mixformerv2_{variant}_d1.pth.tar"), seed=1)


def test_a_new_template_cache_changes_the_prediction(golden_dir):
    """The cache really carries the templates: another online template gives another output."""
    model = load_checkpoint(golden_dir / "mixformerv2_small_d1.pth.tar")
    t, o, s = _random_inputs(model.config, 2)
    with torch.no_grad():
        cache = model.encode_templates(t, o)
        other = model.forward_cached(model.encode_templates(t, torch.flip(o, dims=[-1])), s)
        assert not torch.allclose(other["probs"], model.forward_cached(cache, s)["probs"])


@pytest.mark.parametrize("config", [SMALL, BASE], ids=["S", "B"])
def test_the_captured_step_makes_no_tensor_from_python_data(config):
    """CUDA-graph capture (TorchBackend with cuda_graph) refuses a host-to-device copy inside the
    captured step, and a tensor the step makes from Python data (a list index, torch.tensor(...))
    is one at every call. Traced with every weight and buffer as an input, the step must hold no
    tensor constant. (A list index in the box head was one: scripts/gpu_check.sh on an H200
    caught it; this check needs no GPU.)"""
    from torch.fx.experimental.proxy_tensor import make_fx

    model = MixFormerV2(config).eval()
    t, o, s = _random_inputs(config, 0)
    with torch.no_grad():
        cache = model.encode_templates(t, o)
    state = {**dict(model.named_parameters()), **dict(model.named_buffers())}

    def step(state, cache, search):
        return torch.func.functional_call(model, state, (cache, search), {}, strict=True)

    model.forward = model.forward_cached  # functional_call calls forward; this instance only
    graph = make_fx(step)(state, cache, s).graph
    constants = [node.target for node in graph.nodes if node.op == "get_attr"]
    assert constants == []

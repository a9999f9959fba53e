"""DCASE complexity: counts, bytes at a declared precision, INT8 models, verdicts."""
import copy
import warnings

import pytest
import torch

from asclab import complexity
from asclab.complexity import (
    DCASE_LIMITS, Complexity, count_macs, count_params, default_bits, max_bits, measure, param_bytes,
)
from asclab.models.cpmobile import CPMobile, baseline


def test_limits_and_max_bits():
    assert DCASE_LIMITS["bytes"] == 128_000 and DCASE_LIMITS["macs"] == 30_000_000
    assert max_bits(61_148) == 16
    assert max_bits(126_952) == 8
    assert max_bits(32_000) == 32
    with pytest.raises(ValueError):
        max_bits(0)


def test_float_counts_and_bytes():
    model = CPMobile()
    assert count_params(model) == 126_952
    assert default_bits(model) == 32
    assert param_bytes(model) == 126_952 * 4
    assert param_bytes(model, bits=8) == 126_952
    assert param_bytes(baseline(), bits=16) == 122_296
    assert default_bits(baseline().half()) == 16


def test_count_macs_leaves_model_untouched():
    model = CPMobile().train()
    assert count_macs(model) == 28_893_268
    assert count_macs(model, (1, 1, 256, 65)) == 31_684_180
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_verdicts():
    cpm = measure(CPMobile(), bits=8)
    assert (cpm.params, cpm.macs, cpm.bytes, cpm.bits) == (126_952, 28_893_268, 126_952, 8)
    assert cpm.fits()
    assert not measure(CPMobile()).fits()                       # float32: 507,808 bytes
    assert not measure(CPMobile(), (1, 1, 256, 65), bits=8).fits()  # 31.7 M MACs
    base = measure(baseline(), (1, 1, 256, 65), bits=16)
    assert base.fits() and base.bytes == 122_296
    too_many_macs = Complexity(params=1000, macs=30_000_001, bytes=1000, bits=8)
    assert not too_many_macs.fits() and Complexity(1000, 30_000_000, 128_000, 8).fits()
    report = measure(CPMobile()).report()
    assert "over" in report and "OK" in report and "126,952" in report and "28,893,268" in report
    assert "OK" in cpm.report() and "over" not in cpm.report()


def test_int8_model_counts_packed_weights():
    from torch.ao.quantization import convert, get_default_qat_qconfig, prepare_qat

    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = "x86"
    try:
        float_model = CPMobile()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = copy.deepcopy(float_model).eval()
            model.fuse_model()
            model.qconfig = get_default_qat_qconfig("x86")
            prepare_qat(model.train(), inplace=True)
            with torch.no_grad():
                model(torch.randn(4, 1, 256, 64))
            int8 = convert(model.eval())
        assert complexity.is_quantized(int8) and not complexity.is_quantized(float_model)
        # folding a BatchNorm of C channels into its conv drops its C weights and C biases and gives the conv
        # a bias of C: one parameter per BN channel less (126,952 - 2,090 = 124,862 for CP-Mobile)
        bn_channels = sum(m.num_features for m in float_model.modules()
                          if isinstance(m, torch.nn.BatchNorm2d))
        assert count_params(int8) == 126_952 - bn_channels
        assert default_bits(int8) == 8
        assert param_bytes(int8) == count_params(int8) <= 128_000
        with pytest.raises(ValueError, match="macs_from"):
            count_macs(int8)
        result = measure(int8, macs_from=float_model)
        assert result.macs == 28_893_268 and result.fits()
    finally:
        torch.backends.quantized.engine = previous

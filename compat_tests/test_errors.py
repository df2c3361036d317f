"""Bad input: each error names what was expected and what came, and changes nothing."""

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import backend as B


def snapshot(m):
    """Copies of every array field of a module (recursively for containers)."""
    out = {}
    for i, mod in enumerate(m.listModules()):
        for k, v in vars(mod).items():
            if B.is_array(v):
                out[(i, k)] = (v.shape, B.to_numpy(v).copy())
    return out


def assert_unchanged(before, m):
    after = snapshot(m)
    assert before.keys() == after.keys()
    for k in before:
        assert before[k][0] == after[k][0], k
        np.testing.assert_array_equal(before[k][1], after[k][1], err_msg=str(k))


def run_and_check(m, call, exc, match):
    before = snapshot(m)
    with pytest.raises(exc, match=match):
        call()
    assert_unchanged(before, m)


def conv():
    m = nn.SpatialConvolution(3, 8, 5, 5)
    m.forward(np.random.randn(3, 9, 9))  # buffers exist and must survive
    return m


def test_conv_wrong_rank():
    m = conv()
    run_and_check(
        m,
        lambda: m.forward(np.zeros((4, 8))),
        ValueError,
        r"3D or 4D input tensor expected but got: \[4 x 8\]",
    )


def test_conv_wrong_number_of_planes():
    m = conv()
    run_and_check(
        m,
        lambda: m.forward(np.zeros((4, 8, 8))),
        ValueError,
        r"Need input of dimension 3 and input.size\[0\] == 3 but got input to be of shape: \[4 x 8 x 8\]",
    )
    run_and_check(
        m,
        lambda: m.forward(np.zeros((2, 4, 8, 8))),
        ValueError,
        r"Need input of dimension 4 and input.size\[1\] == 3",
    )


def test_conv_input_smaller_than_kernel():
    m = conv()
    run_and_check(
        m,
        lambda: m.forward(np.zeros((3, 4, 4))),
        ValueError,
        r"Given input size: \(3 x 4 x 4\). Calculated output size: \(8 x 0 x 0\). Output size is too small",
    )


def test_conv_gradoutput_of_wrong_shape():
    m = conv()
    x = np.random.randn(3, 9, 9)
    m.forward(x)
    run_and_check(
        m,
        lambda: m.backward(x, np.zeros((8, 4, 4))),
        ValueError,
        r"expected gradOutput of shape \[8 x 5 x 5\], got \[8 x 4 x 4\]",
    )


@pytest.mark.parametrize(
    "args,match",
    [
        ((3, 8, 0, 5), "kernel size should be greater than zero, but got kH: 5 kW: 0"),
        ((3, 8, 5, 5, 1, -1), "stride should be greater than zero, but got dH: -1 dW: 1"),
    ],
)
def test_conv_kernel_and_stride_must_be_positive(args, match):
    with pytest.raises(ValueError, match=match):
        nn.SpatialConvolution(*args)


@pytest.mark.parametrize(
    "args,match",
    [
        ((0, 2), "kernel size should be greater than zero, but got kH: 2 kW: 0"),
        ((2, 2, 2, 0), "stride should be greater than zero, but got dH: 0 dW: 2"),
        (
            (3, 3, 1, 1, 2, 2),
            "pad should be smaller than half of kernel size, but got padW = 2, padH = 2, kW = 3, kH = 3",
        ),
    ],
)
def test_pooling_bad_arguments_raise_at_forward_as_thnn(args, match):
    m = nn.SpatialMaxPooling(*args)  # Lua's constructor checks nothing
    with pytest.raises(ValueError, match=match):
        m.forward(np.random.randn(1, 6, 6))


def test_pooling_pad_changed_after_construction_is_checked_at_forward():
    m = nn.SpatialMaxPooling(2, 2)
    x = np.random.randn(1, 4, 4)
    m.forward(x)
    m.padW = 3
    run_and_check(
        m, lambda: m.forward(x), ValueError, "pad should be smaller than half of kernel size"
    )


def test_pooling_output_too_small_and_rank():
    m = nn.SpatialMaxPooling(3, 3)
    run_and_check(
        m,
        lambda: m.forward(np.zeros((2, 2, 2))),
        ValueError,
        r"Given input size: \(2x2x2\). Calculated output size: \(2x0x0\). Output size is too small",
    )
    run_and_check(
        m,
        lambda: m.forward(np.zeros(5)),
        ValueError,
        r"3D or 4D input tensor expected but got: \[5\]",
    )


def test_linear_errors():
    m = nn.Linear(4, 3)
    m.forward(np.random.randn(2, 4))
    run_and_check(
        m,
        lambda: m.forward(np.zeros((2, 5))),
        ValueError,
        r"size mismatch, m1: \[2 x 5\], m2: \[4 x 3\]",
    )
    run_and_check(m, lambda: m.forward(np.zeros(5)), ValueError, r"size mismatch, \[3 x 4\], \[5\]")
    run_and_check(
        m, lambda: m.forward(np.zeros((1, 2, 4))), ValueError, "input must be vector or matrix"
    )
    x = np.random.randn(2, 4)
    run_and_check(
        m,
        lambda: m.backward(x, np.zeros((2, 4))),
        ValueError,
        r"expected gradOutput of shape \[2 x 3\], got \[2 x 4\]",
    )


def test_float64_into_float_module():
    m = nn.Linear(4, 3).float()
    run_and_check(
        m,
        lambda: m.forward(np.zeros((2, 4))),
        TypeError,
        "expected input of type torch.FloatTensor .*got torch.DoubleTensor",
    )


def test_non_float_input_is_refused():
    m = nn.ReLU()
    with pytest.raises(
        TypeError, match="expected input of type torch.DoubleTensor .*got torch.ByteTensor"
    ):
        m.forward(np.zeros(3, np.uint8))
    with pytest.raises(TypeError, match="got list"):
        m.forward([1.0, 2.0])


def test_cuda_without_gpu_is_a_clear_error():
    if B.has_cuda():
        pytest.skip("a GPU is present")
    m = nn.Linear(2, 2)
    before = snapshot(m)
    with pytest.raises(B.CudaUnavailableError, match="needs CuPy and an NVIDIA GPU"):
        m.cuda()
    assert m.type() == "torch.DoubleTensor"
    assert_unchanged(before, m)


@pytest.mark.gpu
def test_numpy_array_into_cuda_module():
    m = nn.Linear(4, 3).cuda()
    with pytest.raises(
        TypeError, match="expected input of type torch.CudaTensor .*got torch.FloatTensor"
    ):
        m.forward(np.zeros((2, 4), np.float32))


def test_threshold_errors():
    with pytest.raises(TypeError, match=r"nn.Threshold\(threshold, value\)"):
        nn.Threshold("a")
    with pytest.raises(TypeError, match="in-place flag must be boolean"):
        nn.Threshold(0, 0, 1)
    with pytest.raises(
        ValueError, match=r"in-place processing requires value \(2\) not exceed threshold \(1\)"
    ):
        nn.Threshold(1, 2, True)


def test_softmax_rank():
    with pytest.raises(ValueError, match="1D, 2D, 3D or 4D tensor expected"):
        nn.SoftMax().forward(np.zeros((1, 1, 1, 1, 2)))


def test_error_leaves_sequential_weights_unchanged():
    net = nn.Sequential().add(nn.Linear(4, 3)).add(nn.Linear(5, 2))
    before = [p.copy() for p in net.parameters()[0]]
    with pytest.raises(ValueError, match="In 2 module of nn.Sequential:\nsize mismatch"):
        net.forward(np.zeros((2, 4)))
    for a, b in zip(net.parameters()[0], before):
        np.testing.assert_array_equal(a, b)


def test_full_convolution_errors():
    with pytest.raises(ValueError, match="adjW and adjH must be smaller than dW - 1 and dH - 1"):
        nn.SpatialFullConvolution(1, 1, 3, 3, 1, 1, 0, 0, 1, 0)
    m = nn.SpatialFullConvolution(2, 3, 3, 3)
    run_and_check(
        m,
        lambda: m.forward(np.zeros((3, 4, 4))),
        ValueError,
        r"Need input of dimension 3 and input.size\[0\] == 2",
    )
    m = nn.SpatialFullConvolution(1, 1, 1, 1, 1, 1, 1, 1)
    run_and_check(m, lambda: m.forward(np.zeros((1, 1, 1))), ValueError, "Output size is too small")

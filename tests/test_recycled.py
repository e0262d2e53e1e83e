"""projectors/recycled.py: during a run a big array takes the memory of an earlier one nothing uses any more,
zeroed; never memory still in use (by the array or any view of it); outside a run every array is new."""

import numpy as np

from tiltrec.projectors import recycled
from tiltrec.projectors.recycled import aligned_zeros

SHAPE = (4, 1024, 300)  # 4.7 MiB of float32: above recycled.MIN_BYTES


def _address(a):
    return a.__array_interface__["data"][0]


def test_a_freed_array_s_memory_is_reused_zeroed():
    with recycled.recycling():
        a = aligned_zeros(SHAPE)
        a[...] = 7.0
        where = _address(a)
        del a
        b = aligned_zeros(SHAPE)
        assert _address(b) == where and not b.any()


def test_an_array_for_a_kernel_that_writes_every_value_is_not_zeroed_and_the_next_zeroed_one_is():
    with recycled.recycling():
        a = aligned_zeros(SHAPE)
        a[...] = 7.0
        where = _address(a)
        del a
        b = recycled.aligned_empty(SHAPE)
        assert _address(b) == where and b.shape == SHAPE and b.dtype == np.float32 and _address(b) % 64 == 0
        del b
        c = aligned_zeros(SHAPE)
        assert _address(c) == where and not c.any()


def test_memory_in_use_is_never_handed_out_again():
    with recycled.recycling():
        a = aligned_zeros(SHAPE)
        view = a[1:3, :, 5]
        where = _address(a)
        del a  # the view keeps the memory in use
        b = aligned_zeros(SHAPE)
        c = aligned_zeros(SHAPE)
        assert len({where, _address(b), _address(c)}) == 3
        view[...] = 1.0
        assert not b.any() and not c.any()


def test_buffers_of_another_size_are_let_go():
    with recycled.recycling():
        a = aligned_zeros(SHAPE)
        del a
        aligned_zeros((2, 1024, 700))
        assert all(raw.nbytes != np.prod(SHAPE) * 4 + 64 for raw in recycled._buffers)


def test_outside_a_run_and_for_small_arrays_every_array_is_new():
    with recycled.recycling():
        small = aligned_zeros((10, 10))
        del small
        assert not recycled._buffers
        aligned_zeros(SHAPE)
    assert not recycled._buffers  # let go when the run ends
    a = aligned_zeros(SHAPE)
    where = _address(a)
    del a
    b = aligned_zeros(SHAPE)
    assert not recycled._buffers and b.base is not None and (where != _address(b) or not b.any())

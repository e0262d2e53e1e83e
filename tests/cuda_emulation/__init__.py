"""CPU emulation of the package's CUDA kernels, for machines without a GPU (see emulator.py)."""

"""The CUDA backend: kernels in ``kernels/*.cu``, launched through CuPy (imported only when a GPU is used)."""

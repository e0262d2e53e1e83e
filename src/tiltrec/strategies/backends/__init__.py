"""Where a job's slabs are computed: the CPU (backends.cpu) or a GPU (backends.cuda), behind one protocol
(backends.base) that the slab loop (strategies.driver) runs."""

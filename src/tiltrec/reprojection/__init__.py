"""Reprojection of a tomogram into a tilt series, as IMOD's tilt does it with RecFileToReproject: geometry (the
request in tilt's numbers), imod_rays (the kernel), run (reading, MPI shares, writing)."""

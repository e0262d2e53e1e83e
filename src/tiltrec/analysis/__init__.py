"""Analysis of maps and files: Fourier shell correlation, file descriptions."""

from .frc import FrcCurve, format_frc, fourier_shell_correlation, frc_command, write_frc_plot
from .info import describe, format_info

__all__ = ["FrcCurve", "describe", "format_frc", "format_info", "fourier_shell_correlation",
           "frc_command", "write_frc_plot"]

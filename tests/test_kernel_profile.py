"""benchmarks/kernel_profile.py: ncu's CSV (details page) into one table, a column per kernel."""

from benchmarks import kernel_profile

NCU_OUTPUT = """==PROF== Connected to process 123 (/usr/bin/python3)
==PROF== Profiling "back_flat": 0%....50%....100% - 9 passes
"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"
"0","123","python3","h","back_flat","1","7","(32, 8, 1)","(4, 256, 512)","0","9.0","GPU Speed Of Light Throughput","Memory Throughput","%","12.34"
"0","123","python3","h","back_flat","1","7","(32, 8, 1)","(4, 256, 512)","0","9.0","GPU Speed Of Light Throughput","Compute (SM) Throughput","%","71.20"
"0","123","python3","h","back_flat","1","7","(32, 8, 1)","(4, 256, 512)","0","9.0","Occupancy","Achieved Occupancy","%","88.1"
"1","123","python3","h","forward_flat","1","7","(32, 8, 1)","(4, 256, 61)","0","9.0","GPU Speed Of Light Throughput","Compute (SM) Throughput","%","80.5"
"1","123","python3","h","forward_flat","1","7","(32, 8, 1)","(4, 256, 61)","0","9.0","GPU Speed Of Light Throughput","Duration","msecond","58.1"
==PROF== Disconnected from process 123
"""  # noqa: E501


def test_metrics_per_kernel_from_the_csv_lines_only():
    found = kernel_profile.metrics(NCU_OUTPUT)
    assert set(found) == {"back_flat", "forward_flat"}
    assert found["back_flat"][("Compute (SM) Throughput", "%")] == "71.20"
    assert found["forward_flat"][("Duration", "msecond")] == "58.1"


def test_one_row_per_metric_a_column_per_kernel():
    lines = kernel_profile.table(kernel_profile.metrics(NCU_OUTPUT)).splitlines()
    assert lines[0] == "| Metric | Unit | back_flat | forward_flat |"
    assert "| Duration | msecond | - | 58.1 |" in lines
    assert len(lines) == 2 + 4


def test_summary_names_each_kernels_throughputs():
    line = kernel_profile.summary(kernel_profile.metrics(NCU_OUTPUT))
    assert line == ("back_flat: Compute (SM) Throughput 71.20 %, Memory Throughput 12.34 %, Achieved Occupancy "
                    "88.1 %; forward_flat: Compute (SM) Throughput 80.5 %")


def test_the_command_profiles_both_kernels_without_touching_the_clocks():
    argv = kernel_profile.argv("ncu")
    assert argv[:3] == ["ncu", "--clock-control", "none"]
    assert "regex:^(back_flat|forward_flat)$" in argv and argv[argv.index("--launch-count") + 1] == "2"

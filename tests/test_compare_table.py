"""zoo compare's tables: 'best' is marked only for a significant lead over the runner-up."""
from __future__ import annotations

from pathlib import Path

from zoo.compare.plot import plot_table
from zoo.compare.table import BEST_RULE, ResultTable, Row, to_markdown, to_rich
from zoo.stats import paired_t_interval, welch_interval

INPUT = "input (no restoration)"


def _row(label: str, by_seed: dict[int, float], metric: str = "psnr", group: str = "flare") -> Row:
    row = Row(group, label)
    for seed, value in by_seed.items():
        row.add(seed, {"status": "ok", "metrics": {metric: value}})
    return row


def _table(*rows: Row, direction: str = "higher") -> ResultTable:
    return ResultTable("t", ["psnr"], {"psnr": direction}, list(rows), baselines=(INPUT,))


def test_a_lead_inside_the_seed_spread_is_not_bold():
    # the example: 18.95 ± 0.04 vs 18.94 ± 0.05
    a = _row("l1", {0: 18.91, 1: 18.95, 2: 18.99})
    b = _row("l2", {0: 18.89, 1: 18.94, 2: 18.99})
    table = _table(a, b)
    lead = table.leader("flare", "psnr")
    assert lead is not None and lead.best == "l1" and lead.runner_up == "l2"
    expected = paired_t_interval([18.91, 18.95, 18.99], [18.89, 18.94, 18.99])
    got = lead.difference
    assert (got.mean, got.low, got.high, got.method) == (expected.mean, expected.low,
                                                        expected.high, "paired t")
    assert not lead.significant and table.best("flare", "psnr") is None
    md = to_markdown(table)
    assert "**" not in md.split("### flare")[1].split("Notes:")[0]
    assert BEST_RULE in md
    assert "flare: no significant best — PSNR: l1 vs l2 +0.01, 95 % CI" in md
    assert "paired t over 3 seeds" in md


def test_a_consistent_lead_over_the_same_seeds_is_bold():
    a = _row("l1", {0: 19.50, 1: 19.90, 2: 19.20})
    b = _row("l2", {0: 19.00, 1: 19.42, 2: 18.69})  # ~0.5 dB below on every seed
    table = _table(_row(INPUT, {0: 11.0}), a, b)
    assert table.best("flare", "psnr") == "l1"
    md = to_markdown(table)
    assert "| l1 | **19.53 ± 0.35** |" in md
    assert "| l2 | 19.04 ± 0.37 |" in md  # nor is the baseline ever bold
    assert "no significant best" not in md


def test_different_seeds_use_welch():
    a = _row("l1", {0: 20.0, 1: 20.1, 2: 20.2})
    b = _row("l2", {3: 19.0, 4: 19.1, 5: 19.05})
    lead = _table(a, b).leader("flare", "psnr")
    assert lead is not None and lead.difference.method == "welch"
    assert lead.difference == welch_interval([20.0, 20.1, 20.2], [19.0, 19.1, 19.05])
    assert lead.significant


def test_lower_is_better_and_one_seed():
    a = _row("l1", {0: 0.20, 1: 0.21, 2: 0.19}, "psnr")
    b = _row("l2", {0: 0.30, 1: 0.32, 2: 0.29}, "psnr")
    assert _table(a, b, direction="lower").best("flare", "psnr") == "l1"
    one = _table(_row("l1", {0: 20.0}), _row("l2", {0: 19.0}))
    assert one.best("flare", "psnr") is None  # one seed: no interval, nothing marked
    assert "flare: no significant best — PSNR: one seed, no interval" in to_markdown(one)


def test_rich_rendering_states_the_rule():
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(to_rich(_table(_row("l1", {0: 1.0, 1: 1.1}), _row("l2", {0: 0.5, 1: 0.6}))))
    text = console.export_text()
    assert "Green marks the best mean" in text


def test_bar_chart_starts_at_the_input(tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    captured = {}
    real_savefig = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        captured["axes"] = fig.axes
        return real_savefig(fig, *args, **kwargs)

    plt.Figure.savefig = spy
    try:
        table = _table(_row(INPUT, {0: 11.0}), _row("l1", {0: 19.5, 1: 19.9}),
                       _row("l2", {0: 19.0, 1: 19.4}))
        assert plot_table(table, tmp_path / "bars.png") == tmp_path / "bars.png"
    finally:
        plt.Figure.savefig = real_savefig
    ax = captured["axes"][0]
    bars = ax.patches
    assert [round(b.get_y(), 6) for b in bars] == [11.0, 11.0]  # bottoms at the input's score
    assert [round(b.get_y() + b.get_height(), 6) for b in bars] == [19.7, 19.2]
    assert ax.get_ylim()[0] < 11.0  # the baseline is in view
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())  # the input's line
    from matplotlib.container import ErrorbarContainer

    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)  # ± 1 std over seeds

import time

import matplotlib

matplotlib.use("Agg")

from course_utils.measure import measure
from course_utils.plots import loss_series, plot_losses

HISTORY = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}, {"step": 2, "eval_loss": 1.8}, {"step": 3, "loss": 1.0}]


def test_measure_times_the_block_and_reports_memory(capsys):
    with measure("sleep") as cost:
        time.sleep(0.2)
    assert 0.19 < cost.seconds < 2
    assert cost.peak_rss_gib > 0
    assert "sleep: 0.2 s" in capsys.readouterr().out


def test_loss_series_separates_train_and_eval():
    assert loss_series(HISTORY) == ([1, 2, 3], [2.0, 1.5, 1.0])
    assert loss_series(HISTORY, "eval_loss") == ([2], [1.8])


def test_plot_draws_one_line_per_logged_metric():
    ax = plot_losses(HISTORY)
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "eval_loss"]

"""`zoo eval`: pairs by name, prints a table, writes a CSV, names unpaired files."""
from __future__ import annotations

import csv
import math

import numpy as np
import torch
from click.testing import CliRunner
from skimage.metrics import peak_signal_noise_ratio

from zoo.cli import cli, main
from zoo.data.io import write_image


def _folders(root, n=3, size=24):
    torch.manual_seed(0)
    for i in range(n):
        gt = torch.rand(3, size, size)
        pred = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)
        write_image(root / "gt" / f"gt_{i:06d}.png", gt)
        write_image(root / "pred" / f"{i:06d}.png", pred)
        mask = torch.zeros(3, size, size)
        mask[:2, :6] = 1  # glare
        mask[0, 6:9] = 1  # streak
        mask[2, -4:, -4:] = 1  # light source
        write_image(root / "mask" / f"mask_{i:06d}.png", mask)
    return root


def test_eval_table_and_csv(tmp_path):
    root = _folders(tmp_path)
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(cli, ["eval", "--pred", str(root / "pred"), "--gt",
                                      str(root / "gt"), "--mask", str(root / "mask"),
                                      "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "000002" in result.output and "mean" in result.output
    rows = list(csv.DictReader(open(out)))
    assert [r["name"] for r in rows] == ["000000", "000001", "000002", "mean"]
    assert set(rows[0]) == {"name", "psnr", "ssim", "g-psnr", "s-psnr", "global-psnr",
                            "flare-score"}
    from zoo.data.io import read_image

    refs = []
    for i in range(3):
        a = (read_image(root / "gt" / f"gt_{i:06d}.png") * 255).round().byte().numpy()
        b = (read_image(root / "pred" / f"{i:06d}.png") * 255).round().byte().numpy()
        refs.append(peak_signal_noise_ratio(a, b, data_range=255))
        assert abs(float(rows[i]["psnr"]) - refs[-1]) < 1e-4
    assert abs(float(rows[3]["psnr"]) - float(np.mean(refs))) < 1e-4
    parts = [float(rows[3][k]) for k in ("g-psnr", "s-psnr", "global-psnr")]
    assert math.isclose(float(rows[3]["flare-score"]), sum(parts) / 3, abs_tol=1e-5)


def test_eval_chosen_metrics(tmp_path):
    root = _folders(tmp_path, n=2)
    result = CliRunner().invoke(cli, ["eval", "--pred", str(root / "pred"), "--gt",
                                      str(root / "gt"), "--metrics", "psnr"])
    assert result.exit_code == 0, result.output
    assert "psnr" in result.output and "ssim" not in result.output


def test_eval_errors_exit_2_with_one_line(tmp_path, capsys):
    root = _folders(tmp_path, n=2)
    (root / "gt" / "gt_000001.png").unlink()
    code = main(["eval", "--pred", str(root / "pred"), "--gt", str(root / "gt")])
    err = capsys.readouterr().err
    assert code == 2 and "000001.png has no partner" in err
    code = main(["eval", "--pred", str(root / "pred"), "--gt", str(root / "gt"),
                 "--metrics", "g-psnr"])
    assert code == 2 and "needs --mask" in capsys.readouterr().err
    write_image(root / "gt" / "gt_000001.png", torch.rand(3, 20, 24))
    code = main(["eval", "--pred", str(root / "pred"), "--gt", str(root / "gt")])
    assert code == 2 and "sizes differ" in capsys.readouterr().err
    code = main(["eval", "--pred", str(root / "pred"), "--gt", str(root / "gt"),
                 "--metrics", "psnrr"])
    assert code == 2 and "psnr" in capsys.readouterr().err


def test_engine_and_zoo_eval_average_flare_score_alike(tmp_path, fresh_registry):
    """`zoo eval` and the engine's evaluation are one function: the same means, and the
    flare-score mean is Flare7K's mean of the three region means, also when one image has no
    glare region (its per-image flare-score is NaN, so averaging per-image scores would differ)."""
    import zoo
    from zoo.commands.evaluate import evaluate_folders
    from zoo.data.io import read_image
    from zoo.engine import evaluate_model

    root = _folders(tmp_path, n=3)
    no_glare = torch.zeros(3, 24, 24)
    no_glare[0, 6:9] = 1  # streak only
    no_glare[2, -4:, -4:] = 1
    write_image(root / "mask" / "mask_000001.png", no_glare)
    names = ["flare-score", "g-psnr", "s-psnr", "global-psnr", "psnr"]
    registry = zoo.get_registry()
    rows, folder_means = evaluate_folders(root / "pred", root / "gt", root / "mask", names,
                                          registry=registry)

    class Folders(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"pred": read_image(root / "pred" / f"{i:06d}.png"),
                    "gt": read_image(root / "gt" / f"gt_{i:06d}.png"),
                    "mask": read_image(root / "mask" / f"mask_{i:06d}.png"), "name": f"{i:06d}"}

    engine = evaluate_model({}, (), Folders(), names, registry=registry, output="pred",
                            batch_size=2)
    assert engine.means == folder_means
    assert math.isnan(rows[1]["flare-score"]) and math.isnan(engine.per_image["flare-score"][1])
    regions = sum(folder_means[m] for m in ("g-psnr", "s-psnr", "global-psnr")) / 3
    assert math.isclose(folder_means["flare-score"], regions, rel_tol=1e-12)
    per_image = [v for v in engine.per_image["flare-score"] if not math.isnan(v)]
    assert not math.isclose(folder_means["flare-score"], sum(per_image) / len(per_image))


def test_unwritable_or_full_csv_is_one_line(tmp_path, capsys, full_disk):
    root = _folders(tmp_path, n=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["eval", "--pred", str(root / "pred"), "--gt", str(root / "gt"), "--metrics", "psnr",
            "--csv"]
    assert main([*args, str(blocker / "scores.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{blocker / 'scores.csv'}: cannot write" in err or f"{blocker}: cannot write" in err
    assert "Traceback" not in err
    full_disk(limit=10)
    assert main([*args, str(tmp_path / "scores.csv")]) == 2
    err = capsys.readouterr().err
    assert "scores.csv: disk full" in err and not (tmp_path / "scores.csv").exists()

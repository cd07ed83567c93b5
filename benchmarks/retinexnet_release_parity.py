"""zoo's Retinex-Net decomposition against TensorFlow with the released weights and photos.

Needs a copy of github.com/weichen582/RetinexNet (its ``model/Decom`` and ``data/``) and two
Python environments, one with TensorFlow 2.x and Pillow, one with zoo:

    TF_PYTHON retinexnet_release_parity.py tf RETINEXNET_REPO OUT.npz
    python retinexnet_release_parity.py zoo RETINEXNET_REPO OUT.npz

Photos are read as the release's ``utils.load_images`` does (``/ 255``).  Step 2 prints the
largest absolute difference of R and I per photo.  Only the decomposition is compared: the
copy of the repository read here lacked the contents of ``model/Relight``'s data file (the
relight net's semantics are pinned by tests/models/test_retinexnet_tf.py on a fixture).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def photos(repo: Path) -> list[Path]:
    return sorted(p for d in ("eval", "test") for p in (repo / "data" / d / "low").iterdir())


def load_images(path: Path) -> np.ndarray:
    return np.array(Image.open(path), dtype="float32") / 255.0


def run_tf(repo: Path, out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/models/fixtures/kind_tf"))
    import make_retinexnet_tf as m
    tf = m.tf

    x_ph = tf.placeholder(tf.float32, [None, None, None, 3])
    r_out, i_out = m.decom_net(x_ph, channel=64)
    sess = tf.Session()
    saver = tf.train.Saver(var_list=[v for v in tf.global_variables() if "DecomNet" in v.name])
    saver.restore(sess, tf.train.latest_checkpoint(str(repo / "model" / "Decom")))
    result = {}
    for path in photos(repo):
        r, i = sess.run([r_out, i_out], {x_ph: load_images(path)[None]})
        result.update({f"R_{path.parent.parent.name}_{path.name}": r,
                       f"I_{path.parent.parent.name}_{path.name}": i})
    np.savez(out, **result)


def run_zoo(repo: Path, out: Path) -> None:
    import torch

    import zoo

    ref = np.load(out)
    decom = zoo.create_model("retinexnet-decom", pretrained=repo / "model" / "Decom").eval()
    for path in photos(repo):
        x = torch.from_numpy(load_images(path)).permute(2, 0, 1)[None]
        with torch.no_grad():
            ri = decom(x)
        key = f"{path.parent.parent.name}_{path.name}"
        errs = [float(np.abs(t.permute(0, 2, 3, 1).numpy() - ref[f"{k}_{key}"]).max())
                for k, t in (("R", ri[:, :3]), ("I", ri[:, 3:]))]
        print(f"{key} {x.shape[-2]}x{x.shape[-1]}: max|dR| {errs[0]:.1e}, max|dI| {errs[1]:.1e}")


if __name__ == "__main__":
    step, repo, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    (run_tf if step == "tf" else run_zoo)(repo, out)

"""zoo's KinD against TensorFlow with the released weights, on the release's own photos.

Needs a copy of github.com/zhangyhuaee/KinD (its ``checkpoint/`` and ``test/``) and two Python
environments: one with TensorFlow 2.x (``tf.compat.v1``) and Pillow, one with zoo.

    # 1. TensorFlow: the release's graph (tests/models/fixtures/kind_tf/make_kind_tf.py at the
    #    release's widths), restored with tf.train.Saver, run on each photo
    TF_PYTHON kind_release_parity.py tf KIND_REPO OUT.npz
    # 2. zoo: the same photos through zoo.create_model(..., pretrained=KIND_REPO/checkpoint)
    python kind_release_parity.py zoo KIND_REPO OUT.npz

Both steps read each photo as the release does (``utils.load_images``: /255, per-photo min-max)
and feed the same array.  Step 2 prints, per photo and size, the largest absolute difference
of R and I (decomposition) and of the adjusted illumination (ratio 5).  The restoration net's
weights are not in the repository, so it is not compared here (its mapping and TensorFlow
semantics are pinned by tests/models/test_kind_tf.py on the fixture).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def load_images(path: Path) -> np.ndarray:
    img = np.array(Image.open(path), dtype="float32") / 255.0
    return np.float32((img - img.min()) / np.maximum(img.max() - img.min(), 0.001))


def photos(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / "test").iterdir() if p.is_file())


def run_tf(repo: Path, out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/models/fixtures/kind_tf"))
    import make_kind_tf as m  # the release's graph, written out without tf_slim
    tf = m.tf

    x_ph = tf.placeholder(tf.float32, [None, None, None, 3])
    i_ph = tf.placeholder(tf.float32, [None, None, None, 1])
    ratio_ph = tf.placeholder(tf.float32, [None, None, None, 1])
    r_out, i_out = m.decom_net(x_ph, w=32)
    adjusted = m.adjust_net(i_ph, ratio_ph)
    sess = tf.Session()
    for scope, folder in (("DecomNet", "decom_net_train"),
                          ("Illumination_adjust_net", "illumination_adjust_net_train")):
        saver = tf.train.Saver(var_list=[v for v in tf.global_variables() if scope in v.name])
        saver.restore(sess, tf.train.get_checkpoint_state(str(repo / "checkpoint" / folder))
                      .model_checkpoint_path)
    result = {}
    for path in photos(repo):
        x = load_images(path)[None]
        r, i = sess.run([r_out, i_out], {x_ph: x})
        adj = sess.run(adjusted, {i_ph: i, ratio_ph: np.full_like(i, 5.0)})
        result.update({f"R_{path.name}": r, f"I_{path.name}": i, f"adjust_{path.name}": adj})
    np.savez(out, **result)


def run_zoo(repo: Path, out: Path) -> None:
    import torch

    import zoo

    ref = np.load(out)
    decom = zoo.create_model("kind-decom", pretrained=repo / "checkpoint" / "decom_net_train")
    adjust = zoo.create_model("kind-adjust",
                              pretrained=repo / "checkpoint" / "illumination_adjust_net_train")
    for path in photos(repo):
        x = torch.from_numpy(load_images(path)).permute(2, 0, 1)[None]
        with torch.no_grad():
            ri = decom.eval()(x)
            adj = adjust.eval()(ri[:, 3:], ratio=5.0)
        got = {"R": ri[:, :3], "I": ri[:, 3:], "adjust": adj}
        errs = {k: float(np.abs(v.permute(0, 2, 3, 1).numpy() - ref[f"{k}_{path.name}"]).max())
                for k, v in got.items()}
        h, w = x.shape[-2:]
        print(f"{path.name} {h}x{w}: " + ", ".join(f"max|d{k}| {v:.1e}" for k, v in errs.items()))


if __name__ == "__main__":
    step, repo, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    (run_tf if step == "tf" else run_zoo)(repo, out)

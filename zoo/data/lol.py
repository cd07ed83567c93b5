"""``lol``: the LOL low-light pairs (Wei et al., "Deep Retinex Decomposition for Low-Light
Enhancement", BMVC 2018).

Folder layout as released (``root`` is the folder holding both parts)::

    LOLdataset/our485/{low,high}/*.png     485 training pairs  (split="train")
    LOLdataset/eval15/{low,high}/*.png     15 test pairs       (split="test")

``low/1.png`` pairs with ``high/1.png`` by name.  Training items are random ``size`` crops with
random flips; test items are whole images (or a centre crop when ``size`` is given).
Items: ``{"input": low, "gt": high, "name"}``.
"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from zoo.errors import InputError
from zoo.specs import describe

from .io import read_image
from .pairing import pair_by_name
from .sampling import (center_crop, check_same_size, check_split, generator, item_seed,
                       random_crop, random_flips)

PARTS = {"train": "our485", "test": "eval15"}
DOWNLOAD_HINT = ("download LOL (https://daooshee.github.io/BMVC2018website/, LOLdataset.zip) "
                 "and pass root=<.../LOLdataset> holding our485/ and eval15/; or use the "
                 "offline dataset 'synthetic-lowlight'")


@describe(citation="Wei et al., Deep Retinex Decomposition for Low-Light Enhancement, BMVC 2018",
          test="tests/data/test_lol_folders.py")
class LOL(Dataset):
    """LOL pairs paired by file name.

    Args:
        root: folder holding ``our485/`` and ``eval15/``.
        split: "train" (our485) or "test" (eval15).
        size: crop size: train takes random crops (None: 128), test a centre crop (None: whole
            images, all 600 x 400 in LOL)
        seed: base seed of the crops and flips.
        length: number of items (the pairs repeat beyond their count); None: one per pair.
    """

    def __init__(self, root: str | Path | None = None, split: str = "train",
                 size: int | None = None, seed: int = 0, length: int | None = None):
        self.split = check_split("lol", split)
        if root is None:
            raise InputError(f"dataset lol: no root given; {DOWNLOAD_HINT}")
        folder = Path(root).expanduser() / PARTS[split]
        if not (folder / "low").is_dir() or not (folder / "high").is_dir():
            raise InputError(f"dataset lol: {folder}/low and {folder}/high not found; "
                             f"{DOWNLOAD_HINT}")
        self.pairs = pair_by_name({"input": folder / "low", "gt": folder / "high"})
        self.size = (128 if size is None else int(size)) if split == "train" else size
        self.seed, self.epoch = int(seed), 0
        self.length = int(length) if length is not None else len(self.pairs)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"lol index {index} out of range (length {self.length})")
        key, paths = self.pairs[index % len(self.pairs)]
        images = {k: read_image(p) for k, p in paths.items()}
        check_same_size(paths, images)
        pair = [images["input"], images["gt"]]
        if self.split == "train":
            g = generator(item_seed(self.seed, self.split, index, self.epoch))
            pair = random_flips(random_crop(pair, self.size, g), g)
        else:
            pair = center_crop(pair, self.size)
        return {"input": pair[0], "gt": pair[1], "name": key}

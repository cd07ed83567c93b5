"""Built-in plugin registering datasets through ``zoo_register_datasets``."""
from zoo.hookspecs import hookimpl

_FLARE7K = ("Dai et al., Flare7K: A Phenomenological Nighttime Flare Removal Dataset, NeurIPS "
            "2022 Datasets and Benchmarks; Dai et al., Flare7K++, 2023")
_ITEMS_FLARE = ("input", "gt", "flare", "light", "mask", "name")


@hookimpl
def zoo_register_datasets(register):
    register("synthetic-flare", "zoo.data.synthetic_flare:SyntheticFlare",
             doc="Offline Fourier-optics flare pairs (scattering PSF bank, ghosts, light source) "
                 "on darkened natural photos, with exact Flare7K colour-code masks.",
             citation="Wu et al., How to Train Neural Networks for Flare Removal, ICCV 2021; "
                      "composition after " + _FLARE7K,
             tags=("flare", "synthetic", "offline"),
             extra={"items": _ITEMS_FLARE,
                    "test": "tests/data/test_synthetic_flare.py::test_mask_matches_the_layers"})
    register("flare7k", "zoo.data.flare7k:Flare7K",
             doc="Flare7K / Flare7K++ training pairs synthesised from the released folders "
                 "(split='test' gives the test_data pairs).",
             citation=_FLARE7K, tags=("flare", "folder"),
             extra={"items": ("input", "gt", "flare", "light", "name"),
                    "test": "tests/data/test_flare7k_folders.py"})
    register("flare7k-test", "zoo.data.flare7k:Flare7KTest",
             doc="Flare7K / Flare7K++ test_data/{real,synthetic}/{input,gt,mask} pairs.",
             citation=_FLARE7K, tags=("flare", "folder", "test"),
             extra={"items": ("input", "gt", "mask", "name"),
                    "test": "tests/data/test_flare7k_folders.py"})
    register("lol", "zoo.data.lol:LOL",
             doc="LOL low-light pairs (our485 for train, eval15 for test), paired by name.",
             citation="Wei et al., Deep Retinex Decomposition for Low-Light Enhancement, "
                      "BMVC 2018",
             tags=("low-light", "folder"),
             extra={"items": ("input", "gt", "name"), "test": "tests/data/test_lol_folders.py"})
    register("synthetic-lowlight", "zoo.data.synthetic_pairs:SyntheticLowLight",
             doc="Gamma-darkened natural photos with Poisson-Gaussian noise (offline).",
             citation="Li et al., Low-Light Image and Video Enhancement Using Deep Learning: A "
                      "Survey, TPAMI 2021 (simulated data); Lore et al., LLNet, Pattern "
                      "Recognition 2017; Foi et al., IEEE TIP 2008 (noise model)",
             tags=("low-light", "synthetic", "offline"),
             extra={"items": ("input", "gt", "name"),
                    "test": "tests/data/test_synthetic_pairs.py"})
    register("synthetic-denoise", "zoo.data.synthetic_pairs:SyntheticDenoise",
             doc="Natural photos with additive white Gaussian noise of std sigma/255 (offline).",
             citation="Zhang et al., Beyond a Gaussian Denoiser (DnCNN), IEEE TIP 2017",
             presets={"s15": {"sigma": 15.0}, "s25": {"sigma": 25.0}, "s50": {"sigma": 50.0},
                      "blind": {"sigma": (0.0, 55.0)}},
             tags=("denoise", "synthetic", "offline"),
             extra={"items": ("input", "gt", "name"),
                    "test": "tests/data/test_synthetic_pairs.py"})

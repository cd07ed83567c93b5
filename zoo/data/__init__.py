"""Datasets: Flare7K / LOL folders and offline synthetic pairs."""

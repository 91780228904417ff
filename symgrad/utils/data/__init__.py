"""`symgrad.utils.data`: PyTorch's data-loading names (datasets, samplers, DataLoader) on NumPy."""

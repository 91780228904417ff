"""The torch-shaped flow: a PyTorch training script with `import symgrad as torch`.

Two interleaved half-moons, a small MLP (`nn.Module`), a `DataLoader` over a `TensorDataset` with
shuffling, `optim.Adam` with a `StepLR` schedule, and evaluation under `no_grad()` with the model in
`eval()` mode. Nothing here is symgrad-specific except the import: the same file runs with
`import torch` (the random draws differ). Run: `python examples/torch_flow.py` (a few seconds).
"""

import math

import symgrad as torch
from symgrad import nn
from symgrad.utils.data import DataLoader, TensorDataset


def half_moons(n, noise=0.1):
    """n points of two interleaved half-circles (features float32 [n, 2], labels int64 [n])."""
    labels = torch.randint(0, 2, (n,))
    angle = torch.rand(n) * math.pi
    upper = torch.stack([angle.cos(), angle.sin()], dim=1)
    lower = torch.stack([1 - angle.cos(), 0.5 - angle.sin()], dim=1)
    points = torch.where(labels[:, None] == 0, upper, lower)
    return points + noise * torch.randn(n, 2), labels


class Classifier(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Dropout(0.1),
                                    nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x):
        return self.layers(x)


def evaluate(model, loader):
    """(mean loss, accuracy) over `loader`, without recording gradients."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            logits = model(x)
            total_loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
    model.train()
    return total_loss / count, correct / count


def main(epochs=15, verbose=True):
    torch.manual_seed(0)
    train_set = TensorDataset(*half_moons(512))
    test_set = TensorDataset(*half_moons(256))
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=128)

    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()
    first_loss, _ = evaluate(model, test_loader)
    for epoch in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
        test_loss, accuracy = evaluate(model, test_loader)
        if verbose:
            print(f"epoch {epoch + 1:2d}  lr {scheduler.get_last_lr()[0]:.4f}  test loss {test_loss:.4f}  "
                  f"accuracy {accuracy:.3f}")
    return {"first_loss": first_loss, "loss": test_loss, "accuracy": accuracy, "lr": scheduler.get_last_lr()[0],
            "model": model, "test_set": test_set}


if __name__ == "__main__":
    main()

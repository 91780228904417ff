"""PyTorch's tutorial "A gentle introduction to torch.autograd", whole, with `import symgrad as torch`.

The only change to the tutorial's code: `torchvision.models.resnet18(pretrained=True)` becomes
`torch.models.resnet18(weights=WEIGHTS)` — symgrad downloads nothing, so WEIGHTS is a state_dict
file given as the first argument (.npz, or .pt/.pth when PyTorch is installed); without one the
model keeps its random (torchvision) initialisation. Each section prints what it shows; the lines
starting with "check:" are the tutorial's claims, verified (tests/test_tutorial.py reads them).

Run: python examples/autograd_tutorial.py [resnet18-weights.npz|.pth]
"""

import sys

import numpy as np

import symgrad as torch

WEIGHTS = sys.argv[1] if len(sys.argv) > 1 else None
torch.manual_seed(0)

# ---------------------------------------------------------------- Usage in PyTorch
model = torch.models.resnet18(weights=WEIGHTS)
data = torch.rand(1, 3, 64, 64)
labels = torch.rand(1, 1000)

prediction = model(data)  # forward pass

loss = (prediction - labels).sum()
loss.backward()  # backward pass

optim = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

before = {name: p.detach().clone() for name, p in model.named_parameters()}
optim.step()  # gradient descent

print(f"prediction: {tuple(prediction.shape)}, loss: {loss.item():.4f}")
print("check: every parameter has a gradient:", all(p.grad is not None for p in model.parameters()))
changed = sum(bool((before[n] != p).any()) for n, p in model.named_parameters())
print(f"check: optim.step() changed {changed} of {len(before)} parameters")

# ---------------------------------------------------------------- Differentiation in Autograd
a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)

Q = 3*a**3 - b**2

external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)

# check if collected gradients are correct
print(9*a**2 == a.grad)
print(-2*b == b.grad)

# ---------------------------------------------------------------- Exclusion from the DAG
x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)

a = x + y
print(f"Does `a` require gradients? : {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")

from symgrad import nn, optim  # noqa: E402 - the tutorial imports them here

model = torch.models.resnet18(weights=WEIGHTS)

# Freeze all the parameters in the network
for param in model.parameters():
    param.requires_grad = False

model.fc = nn.Linear(512, 10)

# Optimize only the classifier
optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

# A fine-tuning step: only model.fc's weight and bias get gradients and change.
before = {name: p.detach().clone() for name, p in model.named_parameters()}
optimizer.zero_grad()
out = model(data)
loss = nn.functional.cross_entropy(out, torch.tensor([3]))
loss.backward()
optimizer.step()
with_grad = sorted(n for n, p in model.named_parameters() if p.grad is not None)
changed = sorted(n for n, p in model.named_parameters() if bool((before[n] != p).any()))
print("check: parameters with gradients:", with_grad)
print("check: parameters changed by optimizer.step():", changed)

# The same exclusion as a context manager: no_grad records nothing.
with torch.no_grad():
    out = model(data)
print(f"check: under no_grad the output requires grad: {out.requires_grad}")
print(f"check: fine-tuned logits are finite: {bool(np.isfinite(out.numpy()).all())}")

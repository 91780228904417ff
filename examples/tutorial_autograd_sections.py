"""The sections "Differentiation in Autograd", "Vector Calculus" and "Exclusion from the DAG" of
PyTorch's tutorial "A gentle introduction to torch.autograd", verbatim, with symgrad as torch.

Run: python examples/tutorial_autograd_sections.py   (prints what the tutorial prints)
"""

import symgrad as torch

# Differentiation in Autograd
a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)

Q = 3*a**3 - b**2

external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)

# check if collected gradients are correct
print(9*a**2 == a.grad)
print(-2*b == b.grad)

# Vector Calculus using autograd: external_grad above is the vector v of the product J^T . v

# Exclusion from the DAG
x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)

a = x + y
print(f"Does `a` require gradients? : {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")

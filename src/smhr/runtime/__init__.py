"""Torch-free CPU inference: the exported network in onnxruntime, the hand models in NumPy.

Why: importing PyTorch alone costs more start-up time and memory than a whole CPU inference of
ours (docs/network.md); `smhr.runtime.Runtime` answers the same `predict` calls as the PyTorch
`Reconstructor` without importing it.
"""

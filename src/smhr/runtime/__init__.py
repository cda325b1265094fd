"""Inference: the peaks contract (`contract`), its onnxruntime backend (`network`; the PyTorch one is
`smhr.model.peaks`), the one NumPy decode (`decode`), loading (`loading`) and the one
`Reconstructor`. Nothing here imports PyTorch unless the torch backend is asked for: the light
install (`pip install smhr`) runs the demo with onnxruntime and NumPy alone.
"""

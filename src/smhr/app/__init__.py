"""The product: what a user calls (the `Reconstructor` API, `smhr demo`, video, `smhr export`).

Everything below this package (runtime, model, hands, io, ...) is a library; this package puts it
together for people. Nothing under `smhr` except `smhr.cli` imports from here.
"""

"""The engines that run on this machine, on models that ship in packages (docs/vision.md)."""

"""The engines that look at images, behind one interface per task (`engines.base`): local
models by default (`engines.local`), remote providers when configured (`engines.remote`),
chosen once at start (`engines.selection`)."""

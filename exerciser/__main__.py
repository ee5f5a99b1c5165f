from exerciser.cli import entrypoint

entrypoint()

from gans.cli import run

run()

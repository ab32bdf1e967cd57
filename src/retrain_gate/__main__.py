from retrain_gate.cli import run

run()

"""Self-validated code: run tests on the model's answer before proposing it.

A stage of the pipeline between parsing the answer and building the edits:
test sources (sources.py, model_tests.py, project_tests.py) -> candidates (loop.py:
greedy, samples, one self-repair) -> each run by its language's runner (runners.py) in
the sandbox (sandbox.py, launcher.py) -> a verdict (report.py). stage.py wires them to
the pipeline. The sandbox knows nothing of LSP; the loop knows nothing of processes.
"""

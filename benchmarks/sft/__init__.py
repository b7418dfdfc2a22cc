"""QLoRA SFT speed benchmark, one concern a module: recipes.py (what is trained), data.py (the rows), model.py (the
random Llama-3-8B), course_utils/flops.py (the FLOP model), measure.py (timing one recipe), report.py (JSON and Markdown),
run.py (the command line, one process a recipe), unsloth_row.py (the same rows through Unsloth)."""

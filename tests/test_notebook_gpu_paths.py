"""Static checks on the notebooks' GPU-only branches, which CI (cpu profile) never executes."""
import ast
import re
from pathlib import Path

from transformers.pipelines import PIPELINE_REGISTRY

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.py"))


def code(path: Path) -> str:
    """The notebook's code lines: markdown cells and comments are `#` lines in py:percent and may name old APIs."""
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))


def test_notebooks_use_only_pipeline_tasks_transformers_has():
    tasks = set(PIPELINE_REGISTRY.get_supported_tasks())
    used = {task for path in NOTEBOOKS for task in re.findall(r"pipeline\(\s*[\"']([\w-]+)[\"']", code(path))}
    assert used and used <= tasks, f"tasks transformers 5 does not have: {sorted(used - tasks)}"


def test_no_notebook_runs_remote_model_code():
    """Remote modeling code written for transformers 4.x breaks under 5.x (EXAONE 3.0's does): llamafy instead."""
    offenders = [path.name for path in NOTEBOOKS if re.search(r"trust_remote_code\s*=\s*True", code(path))]
    assert not offenders, f"trust_remote_code=True in {offenders}"


# --- One 8B model at a time (issue 20, item 3) --------------------------------------------------------------------
# On a T4 an 8B model in 4-bit takes 5.5-7.7 GiB: a second one loaded while the first is still referenced runs out of
# the 15 GB. The cpu profile's 135 M model cannot show it, so the notebook's code is read instead: at every call that
# loads a model, no earlier model may still be bound to a global name, and gc.collect() must have run since the last
# `del` of one (what a reference cycle still holds is freed only by the collector, whenever it next runs).
LOADERS = {"fresh_base", "load_causal_lm"}  # and AutoModel*/…ForCausalLM.from_pretrained
WRAPPERS = {"get_peft_model", "prepare_model_for_kbit_training", "merge_and_unload"}  # same model, new name


def _func_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _receiver(call: ast.Call) -> str:
    value = getattr(call.func, "value", None)
    return value.id if isinstance(value, ast.Name) else ""


def _loads_a_model(call: ast.Call) -> bool:
    name, receiver = _func_name(call), _receiver(call)
    return name in LOADERS or (name == "from_pretrained" and (receiver.startswith("AutoModel") or receiver.endswith("ForCausalLM")))


def _root(node: ast.AST) -> str:
    """The global name an expression like `qmodel.base_model.layers[0]` or `model.eval()` hangs from."""
    while True:
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"eval", "train", "to", "cuda"}:
            node = node.func.value
        else:
            return node.id if isinstance(node, ast.Name) else ""


def _holds_model(value: ast.AST, live: set[str]) -> bool:
    """A model loaded here, a wrapper or part of a live one, or something that keeps its parameters (an optimizer)."""
    for node in ast.walk(value):
        if not isinstance(node, ast.Call):
            continue
        wrapped = node.args[0] if node.args else getattr(node.func, "value", None)
        if _loads_a_model(node) or (_func_name(node) in WRAPPERS | {"from_pretrained", "getattr"} and wrapped is not None
                                    and _root(wrapped) in live):
            return True
        if _func_name(node) in {"parameters", "named_parameters"} and _root(node.func) in live:
            return True
    return _root(value) in live


def _names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def loads_while_a_model_is_alive(source: Path) -> list[str]:
    """Each place that loads a model while another may still be in memory: 'cell N: line', with what is alive."""
    import jupytext

    live: set[str] = set()
    uncollected = False
    problems: list[str] = []

    def visit(statements: list[ast.stmt], cell: int) -> None:
        nonlocal uncollected
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
                continue
            # a compound statement's own expressions here; its body is visited below, statement by statement
            header = {ast.For: lambda s: [s.iter], ast.While: lambda s: [s.test], ast.If: lambda s: [s.test],
                      ast.With: lambda s: [i.context_expr for i in s.items], ast.Try: lambda s: []}
            parts = header[type(statement)](statement) if type(statement) in header else [statement]
            calls = [n for part in parts for n in ast.walk(part) if isinstance(n, ast.Call)]
            if any(_func_name(c) == "collect" and _receiver(c) == "gc" for c in calls):
                uncollected = False
            if any(_loads_a_model(c) for c in calls) and (live or uncollected):
                problems.append(f"cell {cell}: {ast.unparse(statement).splitlines()[0]} (alive: {sorted(live)}"
                                f"{', not collected since del' if uncollected else ''})")
            if isinstance(statement, ast.Delete):
                gone = {name for target in statement.targets for name in _names(target)}
                uncollected |= bool(gone & live)
                live.difference_update(gone)
            elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and statement.value is not None:
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                names = {name for target in targets for name in _names(target)}
                if _holds_model(statement.value, live):
                    live.update(names)
                else:
                    live.difference_update(names)
            elif isinstance(statement, (ast.For, ast.While)):
                if isinstance(statement, ast.For) and _holds_model(statement.iter, live):
                    live.update(_names(statement.target))  # `for layer in model.layers` keeps a part of it
                for _ in range(2):  # a second pass meets the loop's next iteration after its `del`
                    visit(statement.body, cell)
            elif isinstance(statement, ast.If):
                before = set(live)
                visit(statement.body, cell)
                after_body = set(live)
                live.clear()
                live.update(before)
                visit(statement.orelse, cell)
                live.update(after_body)  # alive after either branch
            elif isinstance(statement, (ast.With, ast.Try)):
                visit(statement.body, cell)

    for index, cell in enumerate(jupytext.read(source).cells):
        if cell.cell_type == "code":
            visit(ast.parse(cell.source).body, index)
    return problems


def test_lesson_04_never_holds_two_models():
    """Its solutions loaded a fresh 8B base while section 6's qmodel was alive: out of memory on a T4."""
    problems = loads_while_a_model_is_alive(NOTEBOOK_DIR / "04_lora.py")
    assert not problems, "\n".join(problems)


def test_the_model_checker_sees_what_a_t4_would_run_out_on(tmp_path):
    source = tmp_path / "nb.py"
    source.write_text("# %%\nbase = fresh_base()\nmodel = get_peft_model(base, config)\nlayer = model.layers[0]\n"
                      "del model, base\n# %%\nfor r in (4, 64):\n    trial = get_peft_model(fresh_base(), config)\n"
                      "    del trial\n")
    problems = loads_while_a_model_is_alive(source)
    assert len(problems) == 2 and "'layer'" in problems[0] and "not collected" in problems[1]


def test_kbit_preparation_checkpoints_without_reentrance():
    """prepare_model_for_kbit_training passes {} on by default: reentrant checkpointing and torch's warning (item 7)."""
    calls = [c for path in NOTEBOOKS for c in ast.walk(ast.parse(code(path))) if isinstance(c, ast.Call)
             and _func_name(c) == "prepare_model_for_kbit_training"]
    assert calls
    for call in calls:
        keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
        if keywords.get("use_gradient_checkpointing") == "False":
            continue
        assert keywords.get("gradient_checkpointing_kwargs") == "{'use_reentrant': False}", ast.unparse(call)


def run_notebook_statements(source: Path, select, namespace: dict) -> dict:
    """Run only the notebook's top-level statements for which `select(statement)` is true, in `namespace`."""
    import jupytext

    for cell in jupytext.read(source).cells:
        if cell.cell_type == "code":
            for statement in ast.parse(cell.source).body:
                if select(statement):
                    exec(compile(ast.Module([statement], []), str(source), "exec"), namespace)
    return namespace


def notebook_definitions(source: Path, names: set[str], namespace: dict) -> dict:
    """Run only the notebook's top-level functions and assignments that bind `names`, in `namespace`."""
    def binds(statement: ast.stmt) -> bool:
        if isinstance(statement, ast.FunctionDef):
            return statement.name in names
        return isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in names for target in statement.targets for t in ast.walk(target))

    return run_notebook_statements(source, binds, namespace)


def test_lesson_04_gives_llama_3_its_bos_in_training_and_in_generation(llama3_tokenizer):
    """The toy task tokenized plain prompts with add_special_tokens=False: Llama 3 never saw its BOS (item 14)."""
    import torch

    from course_utils.prompts import with_bos

    rows = [{"review": "The soup was cold.", "sentiment": "부정", "split": "test"},
            {"review": "A wonderful, moving film.", "sentiment": "긍정", "split": "test"}]
    lesson = notebook_definitions(NOTEBOOK_DIR / "04_lora.py", {"prompt", "make_batch", "test_prompts"},
                                  {"tokenizer": llama3_tokenizer, "torch": torch, "test_rows": rows, "with_bos": with_bos})
    bos = llama3_tokenizer.bos_token_id
    batch = lesson["make_batch"](rows, "sentiment")
    assert batch["input_ids"][:, 0].tolist() == [bos, bos] and (batch["input_ids"] == bos).sum() == 2
    assert batch["labels"][:, 0].tolist() == [-100, -100]
    # course_utils.generation.generate tokenizes with add_special_tokens=False: the prompts must carry the BOS
    generated = llama3_tokenizer(lesson["test_prompts"], add_special_tokens=False)["input_ids"]
    assert [ids[0] for ids in generated] == [bos, bos] and all(ids.count(bos) == 1 for ids in generated)


def test_lesson_02_shows_llama_3s_reserved_tokens_from_0_to_250(llama3_tokenizer):
    """Sorted as strings, the range printed `0 … 9` while the prose said `0 … 250` (item 12)."""
    lesson = notebook_definitions(NOTEBOOK_DIR / "02_tokenizers.py", {"RESERVED", "reserved"}, {"tokenizer": llama3_tokenizer})
    assert len(lesson["reserved"]) == 251
    assert (lesson["reserved"][0], lesson["reserved"][-1]) == ("<|reserved_special_token_0|>", "<|reserved_special_token_250|>")


def test_lesson_01_keeps_a_pad_id_of_0():
    """`pad_token_id or eos_token_id` replaced BERT's and ELECTRA's pad id 0 with their EOS, None (item 17)."""
    from types import SimpleNamespace

    def sets_pad(statement: ast.stmt) -> bool:
        return isinstance(statement, ast.Assign) and ast.unparse(statement.targets[0]).endswith("config.pad_token_id")

    for pad, eos, expected in ((0, None, 0), (None, 2, 2), (5, 2, 5)):
        untrained = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(pad_token_id=None)),
                                    tokenizer=SimpleNamespace(pad_token_id=pad, eos_token_id=eos))
        run_notebook_statements(NOTEBOOK_DIR / "01_pipelines.py", sets_pad, {"untrained": untrained})
        assert untrained.model.config.pad_token_id == expected, (pad, eos)

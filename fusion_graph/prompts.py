"""Every prompt that fusion-graph sends, as a named constant."""

from __future__ import annotations

__all__ = [
    "AGREEMENT_LINE",
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
]

BEST_OF_SYSTEM = """\
You are an impartial judge. Several anonymous assistants answered the same conversation. Score each \
answer from 0 to 10 for correctness, completeness and clarity, then pick the single best one as the \
winner by its label. Judge the content only: ignore the order of the answers, their length and their \
style, and never guess which model wrote what. Reply with the structured verdict only."""

MERGE_SYSTEM = """\
You are an impartial editor. Several anonymous assistants answered the same conversation. Write one \
answer that keeps what is correct and complementary in them, resolves their contradictions (say how \
when it matters) and drops what is wrong. List the points they agree on, the contradictions, and the \
points only one answer makes. Judge the content only, never the order or the style. Reply with the \
structured result only."""

DEBATE_JUDGE_SYSTEM = """\
You are an impartial judge of a debate. Anonymous assistants answered the same conversation, read \
each other's answers and revised their own. These are their final answers. Score each from 0 to 10 \
for correctness, completeness and clarity, and pick the best one as the winner by its label. Judge the \
content only, never the order or the style. Reply with the structured verdict only."""

JUDGE_USER = """\
The conversation:
<conversation>
{conversation}
</conversation>

The answers ({count}), each under its label:
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
Check again: your merged answer reaches {novel}, which no answer reaches, while {count} answers reach \
{majority}. Re-read the answers and write the merged answer again."""

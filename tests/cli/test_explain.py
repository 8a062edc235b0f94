"""The decision in words that `fusion run` prints: who decided, and on what evidence."""

from __future__ import annotations

from fusion_graph import fuse
from fusion_graph.cli._explain import decision_in_words
from tests._quality_stubs import QUESTION, first_shown, judge_script, make_config, server_of

R400 = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
R400B = "Multiplying first gives 396; adding four.\nFinal answer: 400"
R409 = "I get 12 * 33 = 405, plus 4. The answer is 409."
R401 = "The answer is 401."


async def test_a_majority_says_who_agreed_on_what_and_that_no_judge_was_asked() -> None:
    members = {"a": R400, "b": R409, "c": R400B}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, make_config(server, list(members), mode="vote"))
    assert result.decided_by == "vote:majority"
    assert decision_in_words(result) == (
        "Decided by majority vote: 2 of 3 answers (a, c) reach the same final answer, 400. "
        "No judge was needed."
    )


async def test_a_split_vote_names_the_tie_breaking_judge_and_the_split() -> None:
    members = {"a": R400, "b": R409, "c": R401}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, make_config(server, list(members), mode="vote"))
    words = decision_in_words(result)
    assert result.decided_by.startswith("judge:"), result.decided_by
    assert words.startswith(f"Decided by the tie-breaking judge {result.decided_by.partition(':')[2]}.")
    assert f"It picked {result.winner}." in words
    assert result.agreement_summary and result.agreement_summary in words


async def test_answers_without_a_readable_final_answer_are_counted_as_such() -> None:
    members = {"a": R400, "b": "It depends on how the expression is read.", "c": "Nobody can say."}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, make_config(server, list(members), mode="vote"))
    words = decision_in_words(result)
    # one readable answer of three is no vote (issue 16): the tie-breaking judge decides
    assert result.decided_by == "judge:judge"
    assert words.startswith("Decided by the tie-breaking judge judge.")
    assert "2 of 3 answers had no final answer that could be read and compared." in words

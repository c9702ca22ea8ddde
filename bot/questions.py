"""Reading members' messages: does a message ask something, and what a follow-up is searched with."""
from __future__ import annotations

import re

from embeddings.search import MAX_QUESTION_CHARS

CONTEXT_MAX = 300  # characters of the earlier question a follow-up carries, at most

_QUESTION_WORDS = frozenset(
    """what whats what's who whose whom why how when where which is are was were does do did can could will
    would should has have had any anyone tell explain""".split()
)
_CJK_QUESTION_RE = re.compile(r"[？吗呢嗎]|什么|什麼|为什么|為什麼|怎么|怎麼|哪|谁|誰|多少|几|幾")
_WORD_RE = re.compile(r"[\w']+")


def reads_as_question(text: str) -> bool:
    """A message worth answering unasked: ends with '?', or opens with a question word and says enough.

    "thanks!", "lol", "ok?" and links alone are not questions.
    """
    text = " ".join(re.sub(r"<[@#:][^>]*>|https?://\S+", " ", text or "").split())
    words = _WORD_RE.findall(text.lower())
    if _CJK_QUESTION_RE.search(text) and len(text) >= 4:
        return True
    if len(words) < 3:
        return False
    return text.rstrip().endswith("?") or words[0] in _QUESTION_WORDS


def follow_up_query(question: str, context: str | None) -> str:
    """The text searched for a follow-up: the new question first, then as much earlier context as fits.

    Bounded, so a chain of follow-ups never grows, and never over the question limit: the
    1,000 characters are the member's, the context takes what is left (at most CONTEXT_MAX).
    """
    question = " ".join(question.split())
    if not context:
        return question
    room = min(CONTEXT_MAX, MAX_QUESTION_CHARS - len(question) - 1)
    context = " ".join(context.split())
    if room < 20:
        return question
    if len(context) > room:
        context = context[:room].rsplit(" ", 1)[0]
    return f"{question} {context}"


_CHATTER = frozenset(
    """thanks thank you thx ty tysm ok okay k cool nice great awesome lol lmao haha yes no yep nope sure
    got it gotcha perfect wow interesting np ah oh i see right agreed""".split()
)


def is_chatter(text: str) -> bool:
    """"thanks!", "ok cool", "lol": said in an answer's thread, not asked of the bot."""
    words = _WORD_RE.findall(re.sub(r"<[@#:][^>]*>", " ", text or "").lower())
    return not words or (len(words) <= 4 and "?" not in text and all(w in _CHATTER for w in words))

"""What changed in a page's main text: sentence-level diff with diff-match-patch.

Sentences, not characters, are the unit (a character diff cuts claims in odd places). A
sentence that only moved, or changed in case, spacing or punctuation, is neither added nor
removed. diff-match-patch's `Diff_Timeout` is kept small; when it runs out the result is
"delete all, insert all", which the sentence-key filter below still turns into the right sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

from monitor.text import key, split_sentences

DIFF_TIMEOUT = 0.5


@dataclass
class Changes:
    """Sentences added and removed, and the line-level hunks for display."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    hunks: list[tuple[int, str]] = field(default_factory=list)  # (-1|0|1, sentence)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def sentences(text: str) -> list[str]:
    """A page text as one sentence per entry, in reading order."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        out.extend(split_sentences(paragraph))
    return out


def diff_texts(old: str, new: str, timeout: float = DIFF_TIMEOUT) -> Changes:
    """Sentence diff of two page texts (paragraphs separated by newlines)."""
    # Two versions of a page share most paragraphs: each distinct one is split, and each
    # distinct sentence keyed, once.
    split: dict[str, list[str]] = {}
    keys: dict[str, str] = {}

    def sentences_of(text: str) -> list[str]:
        out: list[str] = []
        for paragraph in text.split("\n"):
            got = split.get(paragraph)
            if got is None:
                got = split[paragraph] = split_sentences(paragraph)
            out.extend(got)
        return out

    def key_of(sentence: str) -> str:
        k = keys.get(sentence)
        if k is None:
            k = keys[sentence] = key(sentence)
        return k

    old_s, new_s = sentences_of(old), sentences_of(new)
    dmp = diff_match_patch()
    dmp.Diff_Timeout = timeout
    a, b, table = dmp.diff_linesToChars("\n".join(old_s) + "\n", "\n".join(new_s) + "\n")
    diffs = dmp.diff_main(a, b, False)
    dmp.diff_charsToLines(diffs, table)
    hunks: list[tuple[int, str]] = []
    for op, chunk in diffs:
        hunks.extend((op, line) for line in chunk.split("\n") if line)
    old_keys = {key_of(s) for s in old_s}
    new_keys = {key_of(s) for s in new_s}
    changes = Changes(hunks=hunks)
    seen: set[str] = set()
    for op, sentence in hunks:
        k = key_of(sentence)
        if not k or k in seen:
            continue
        if op == 1 and k not in old_keys:
            changes.added.append(sentence)
            seen.add(k)
        elif op == -1 and k not in new_keys:
            changes.removed.append(sentence)
            seen.add(k)
    return changes


def render(changes: Changes, context: int = 1) -> list[str]:
    """Readable unified-style lines: '+ ' added, '- ' removed, '  ' context, '...' gaps.

    Moved or re-punctuated sentences show as context, not as changes."""
    added = {key(s) for s in changes.added}
    removed = {key(s) for s in changes.removed}
    marked: list[tuple[str, str]] = []
    for op, sentence in changes.hunks:
        k = key(sentence)
        if op == 1 and k in added:
            marked.append(("+", sentence))
        elif op == -1 and k in removed:
            marked.append(("-", sentence))
        elif op == 0:
            marked.append((" ", sentence))
    show = [False] * len(marked)
    for i, (mark, _) in enumerate(marked):
        if mark != " ":
            for j in range(max(0, i - context), min(len(marked), i + context + 1)):
                show[j] = True
    lines: list[str] = []
    gap = False
    for (mark, sentence), visible in zip(marked, show, strict=True):
        if visible:
            lines.append(f"{mark} {sentence}")
            gap = False
        elif not gap and lines:
            lines.append("...")
            gap = True
    return lines

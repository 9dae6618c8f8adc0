"""Prompt-lookup drafting for speculative edit decoding, shared by the backends.

An edit mostly copies the code it was given, so the next tokens of the answer can be
guessed by looking up the answer's last few tokens (an n-gram) in the code being edited
(and the rest of the prompt, and the answer so far) and proposing what followed there.
The model then checks all guesses in ONE forward pass over ``[last token] + draft``:
row i of that pass is the greedy prediction plain decoding makes after ``batch[i]``, so
accepting the longest prefix of the draft that matches those predictions (plus the
model's own token at the first mismatch) yields plain greedy decoding's tokens, several
per forward pass.

That holds only if row i of a wide pass is computed exactly as a one-token pass would
compute it. Engines pick kernels by batch size and those round differently, and a near
tie between two tokens then goes one way or the other (a guard that re-decided near ties
in one-token passes could not fix it: the cache already held wide-pass rounding). So each
backend configures its engine so that rows do not depend on the batch, and checks that
with `rows_match` on the loaded model before it drafts (see the backends).

This module knows nothing about engines: it works on token ids. A backend supplies the
verification pass and rolls its KV cache back past the rejected tokens.

Wiring into a draft-and-verify loop (llama.cpp's is in
model/llamacpp_backend/speculative_loop.py)::

    lookup = PromptLookup(source_ids, prompt_ids, config)
    last = first greedy token after the prompt; lookup.observe([last]); emit last
    while not finished:
        draft = lookup.draft(limit)                     # []: a plain one-token pass
        logits = one forward pass over [last] + draft at positions n_past...
        result = verify_greedy(draft, logits.argmax(-1))
        keep the cache for positions < n_past + len(result.tokens), drop the rest
        lookup.update(result); emit result.tokens; last = result.tokens[-1]
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Separates the segments of the haystack; never a real token id, so no n-gram spans it.
_SEP = -1


@dataclass(frozen=True)
class DraftConfig:
    """Knobs of the drafter.

    `k_max`: the longest draft. `max_ngram`/`min_ngram`: the longest and shortest
    suffix looked up. `resync`: when no n-gram matches, propose up to this many tokens
    from just after where copying last stood in the source (an edit that replaced one
    identifier usually goes on with the rest of the line). `p_init`: prior chance that
    a drafted token is accepted. `cost_ratio`: cost of one more token in a verification
    pass relative to a one-token pass: about 0.3 for a small model on a CPU (measured:
    Gemma 3 270M Q4_K_M, llama.cpp, 1 thread, logits for every row: 2, 4 and 6 rows cost
    1.36, 1.92 and 2.52 one-token passes), near 0 on a GPU. A fixed figure rather than a
    timed one, so the draft lengths do not depend on the machine's load: runs are
    reproducible. `even_widths`: make passes an even number of rows where the adaptive
    length allows; llamafile's sgemm (x86) works in 2-column tiles and finishes an odd
    column alone, so there 3, 5 and 7 rows cost 2.26, 2.86 and 3.47 one-token passes,
    more than 4 or 6 rows.
    """

    k_max: int = 24
    max_ngram: int = 4
    min_ngram: int = 1
    resync: int = 4
    p_init: float = 0.7
    cost_ratio: float = 0.3
    even_widths: bool = False


# DraftConfig.cost_ratio on a GPU: a wider verification pass costs almost nothing more.
GPU_COST_RATIO = 0.05


def gpu_draft_config(config: DraftConfig) -> DraftConfig:
    """A wide pass costs almost nothing more than a one-token pass on a GPU, so draft
    longer there (unless the caller chose the cost themselves)."""
    if config.cost_ratio == DraftConfig.cost_ratio:
        return dataclasses.replace(config, cost_ratio=GPU_COST_RATIO)
    return config


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of one verification pass."""

    tokens: list[int]  # accepted draft tokens followed by the model's own next token
    drafted: int
    accepted: int


def verify_greedy(draft: Sequence[int], predicted: Sequence[int]) -> VerifyResult:
    """Accept the longest draft prefix that greedy decoding would have produced.

    `predicted[i]` is the argmax after the i-th token of ``[last] + draft`` (so it has
    len(draft) + 1 entries). The result always carries at least one token.
    """
    if len(predicted) < len(draft) + 1:
        raise ValueError("need one prediction per draft token plus one")
    accepted = 0
    while accepted < len(draft) and int(predicted[accepted]) == int(draft[accepted]):
        accepted += 1
    tokens = [int(t) for t in draft[:accepted]] + [int(predicted[accepted])]
    return VerifyResult(tokens=tokens, drafted=len(draft), accepted=accepted)


def rows_match(single: Any, wide: Any) -> bool:
    """True when logits from one-token passes equal a wide pass's rows bit for bit.

    Bitwise, not approximately: a difference of one ulp can flip a near tie, and greedy
    decoding diverges from there. Takes numpy arrays or torch tensors.
    """
    return bool(single.shape == wide.shape and (single == wide).all())


# Exploring while measured costs say not to draft (DraftLength.choose): the first wait in
# plain steps, the longest (after failed tries), and the acceptance rate hoped for.
_EXPLORE_FIRST = 16
_EXPLORE_MAX = 512
_EXPLORE_P = 0.95


class DraftLength:
    """Chooses how many tokens to draft: the k that maximises expected tokens per unit
    of pass cost, ``(1 + p + ... + p^k) / cost(k + 1 rows)``, where p is a running
    estimate of the chance that a drafted token is accepted and the cost is in one-row
    passes: measured on this machine (`pass_cost`, see model/pass_costs.py) or, without
    a measurement, ``1 + cost_ratio * k``. A k whose pass is measured not to pay is never
    chosen (plain steps, k = 0, are worth 1 token per one-row pass), so the drafter backs
    off to plain steps when drafts keep failing, and p drifts back to its prior while it
    is not drafting.

    With measured costs, p alone could keep the drafter from ever drafting: while it does
    not draft it learns nothing, p sits at its prior, and a wide pass that pays at the
    acceptance edits really have (copies run at ~90 %) looks as if it never will. So
    `choose()` explores: after some plain steps, where the text is clearly being copied
    (the longest n-gram matches), it drafts once at the width that would pay at a hopeful
    p, if any would; the outcome updates p as usual. A try that did not pay for its pass
    doubles the wait before the next (up to `_EXPLORE_MAX` steps), so where drafts do not
    fit, exploring costs a few wide passes in hundreds of steps."""

    def __init__(
        self, config: DraftConfig, pass_cost: Callable[[int], float] | None = None
    ) -> None:
        self.config = config
        self.pass_cost = pass_cost
        self._hits = 2.0 * config.p_init  # pseudo-counts: accepted / tried positions
        self._tries = 2.0
        # Passes without drafts since the last draft; starting "due" lets a request's
        # first strong match be tried at once (an edit usually starts by copying).
        self._plain_steps = _EXPLORE_FIRST
        self._explore_after = _EXPLORE_FIRST
        self._exploring = False

    @property
    def p(self) -> float:
        return self._hits / self._tries

    def update(self, drafted: int, accepted: int) -> None:
        decay = 0.7
        if drafted == 0:  # not drafting: forget slowly, so drafting is retried
            self._plain_steps += 1
            self._exploring = False
            self._hits = decay * self._hits + (1 - decay) * self.config.p_init
            self._tries = decay * self._tries + (1 - decay)
            return
        self._plain_steps = 0
        if self._exploring:
            self._exploring = False
            paid = accepted + 1 >= self._cost(drafted)  # tokens it gave vs what it cost
            self._explore_after = (_EXPLORE_FIRST if paid
                                   else min(2 * self._explore_after, _EXPLORE_MAX))
        tries = accepted + (1 if accepted < drafted else 0)
        self._hits = decay * self._hits + accepted
        self._tries = decay * self._tries + tries

    def _cost(self, k: int) -> float:
        """A pass with k drafts (k + 1 rows), in one-row passes."""
        if self.pass_cost is not None:
            return self.pass_cost(k + 1)
        return 1.0 + self.config.cost_ratio * k

    @property
    def k(self) -> int:
        """The best draft length at the current estimate of p."""
        return self._best_k(self.p)

    @property
    def exploring(self) -> bool:
        """The length just chosen is an exploratory draft."""
        return self._exploring

    def choose(self) -> int:
        """The draft length for the next pass: `k`, or an exploratory draft (see above)."""
        best = self.k
        if best == 0 and self.pass_cost is not None and self._plain_steps >= self._explore_after:
            hopeful = self._best_k(_EXPLORE_P)
            if hopeful:
                self._exploring = True
                return hopeful
        return best

    def _best_k(self, p: float) -> int:
        p = min(p, 0.999)
        best_k, best_rate = 0, 1.0
        expected, power = 1.0, 1.0
        for k in range(1, self.config.k_max + 1):
            power *= p
            expected += power
            rate = expected / self._cost(k)
            if rate > best_rate * 1.001:
                best_k, best_rate = k, rate
        if self.pass_cost is None and self.config.even_widths and best_k % 2 == 0 and best_k:
            # A pass is [last] + k drafts: an odd k gives an even width.
            best_k = best_k + 1 if best_k < self.config.k_max else best_k - 1
        return best_k


class PromptLookup:
    """N-gram lookup over the edited code, the prompt and the answer so far.

    The haystack is ``source + SEP + prompt + generated``; an index maps every n-gram
    (n in [min_ngram, max_ngram]) to the positions just after its occurrences, kept up
    to date as tokens are generated. Among the matches of the longest suffix that
    matches, the drafter prefers the one continuing where the last draft left off, then
    one in the source close after that point (copying moves forward), then the latest.
    """

    def __init__(
        self,
        source: Sequence[int],
        prompt: Sequence[int],
        config: DraftConfig | None = None,
        pass_cost: Callable[[int], float] | None = None,
    ) -> None:
        self.config = config or DraftConfig()
        self.length = DraftLength(self.config, pass_cost)
        self._tokens: list[int] = []
        self._index: dict[tuple[int, ...], list[int]] = {}
        self._append([int(t) for t in source])
        self._source_end = len(self._tokens)  # positions < this are in the source
        self._append([_SEP])
        self._append([int(t) for t in prompt])
        # Where in the haystack the answer is thought to be copying from (None: unknown).
        self._cursor: int | None = None
        self.drafted = 0
        self.accepted = 0

    # ---- index -----------------------------------------------------------------------

    def _append(self, tokens: Sequence[int]) -> None:
        cfg = self.config
        for token in tokens:
            self._tokens.append(token)
            end = len(self._tokens)  # continuation position of n-grams ending here
            for n in range(cfg.min_ngram, cfg.max_ngram + 1):
                if end < n:
                    break
                gram = tuple(self._tokens[end - n : end])
                if _SEP in gram:
                    break
                self._index.setdefault(gram, []).append(end)

    def observe(self, tokens: Sequence[int]) -> None:
        """Record generated tokens that did not come from a verification (the first)."""
        self._advance(len(tokens))
        self._append([int(t) for t in tokens])

    def update(self, result: VerifyResult) -> None:
        """Record a verification: its tokens join the answer, the draft length adapts."""
        self.drafted += result.drafted
        self.accepted += result.accepted
        self.length.update(result.drafted, result.accepted)
        self.observe(result.tokens)

    def _advance(self, count: int) -> None:
        # Copying goes on past a substituted token too, so move the cursor either way.
        if self._cursor is not None:
            self._cursor += count

    # ---- drafting --------------------------------------------------------------------

    def draft(self, limit: int | None = None) -> list[int]:
        """Up to min(limit, adaptive k) tokens likely to come next; [] if no guess."""
        k = self.length.choose()
        if limit is not None:
            k = min(k, limit)
        if k <= 0:
            return []
        start, matched = self._match()
        if self.length.exploring and matched < self.config.max_ngram:
            return []  # explore only where the text is clearly being copied
        if start is None:
            start = self._resync_start()
            k = min(k, self.config.resync)
            if start is None:
                return []
        stop = self._source_end if start <= self._source_end else len(self._tokens)
        draft = self._tokens[start : min(start + k, stop)]
        if _SEP in draft:
            draft = draft[: draft.index(_SEP)]
        self._cursor = start
        return draft

    def _match(self) -> tuple[int | None, int]:
        """Where the longest suffix that occurs earlier continues, and its length."""
        cfg = self.config
        total = len(self._tokens)
        for n in range(cfg.max_ngram, cfg.min_ngram - 1, -1):
            if total < n:
                continue
            gram = tuple(self._tokens[total - n :])
            positions = self._index.get(gram)
            if not positions:
                continue
            # The suffix's own occurrence (at the very end) has no continuation.
            candidates = positions[:-1] if positions[-1] >= total else positions
            if candidates:
                return self._choose(candidates), n
        return None, 0

    def _choose(self, candidates: list[int]) -> int:
        cursor = self._cursor
        if cursor is not None:
            at = bisect.bisect_left(candidates, cursor)
            if at < len(candidates) and candidates[at] == cursor:
                return cursor
            # In the source, the nearest occurrence at or after the cursor.
            if (
                cursor <= self._source_end
                and at < len(candidates)
                and candidates[at] < self._source_end
            ):
                return candidates[at]
        in_source = [c for c in candidates if c < self._source_end]
        if in_source and cursor is None:
            return in_source[0]
        return candidates[-1]

    def _resync_start(self) -> int | None:
        cursor = self._cursor
        if cursor is None or cursor >= self._source_end:
            return None
        return cursor

"""A run's budget for paid LLM calls (``max_cost`` in USD): thread-safe reserve before a call, settle after it.

The LLM layer asks for a :class:`Hold` right before each paid attempt (after the cache missed and a rate-limit
slot was granted). The hold reserves the attempt's expected cost: its input tokens (audio at the provider's tokens
per second, text at ~4 characters per token) and its ``max_output_tokens`` when set, else its
``expected_output_tokens``. A hold is refused, with :class:`~affectproxy.errors.BudgetExceededError`, when what
was spent plus what is reserved by calls in flight plus this call would exceed the budget; so no call starts
that would take the run past ``max_cost`` as long as answers are no longer than expected (set
``max_output_tokens`` to make that a guarantee). When the call returns, the hold settles at the real cost (0 for
an error: failed attempts are not billed).

A model with no known price cannot run under a budget (:class:`UnpricedModelError`, a BudgetExceededError).

Examples:
    >>> b = Budget(1.0)
    >>> h = b.reserve(0.6, what="segment 's1'")
    >>> b.reserve(0.6, what="segment 's2'")
    Traceback (most recent call last):
    ...
    affectproxy.errors.BudgetExceededError: Budget reached: ...
    >>> h.settle(0.25)
    >>> b.spent, b.reserved
    (0.25, 0.0)
"""

from __future__ import annotations

import threading
from typing import Any

from affectproxy.errors import BudgetExceededError
from affectproxy.llm.types import LLMRequest, Price, Usage

#: The start of every budget stop message (the CLI recognises a run stopped by its budget by it).
STOP_PREFIX = "Budget reached"
#: What the message says about continuing.
CONTINUE = ("Every finished answer is kept: raise max_cost (study file [study] max_cost, or evaluate(max_cost=...)) "
            "and run again to continue; done segments and cached answers are not paid again.")


def usd(amount: float) -> str:
    """US dollars for messages: cents above a dollar, four decimals below (``$5.00``, ``$0.0030``)."""
    return f"${amount:.2f}" if amount >= 1 else f"${amount:.4f}"


class UnpricedModelError(BudgetExceededError):
    """A model without a known price was asked to run under a budget."""


class Hold:
    """One attempt's reservation; :meth:`settle` replaces it by the real cost (once)."""

    def __init__(self, budget: Budget | None, amount: float) -> None:
        self._budget = budget
        self.amount = float(amount)
        self._open = budget is not None

    def settle(self, cost: float | None) -> None:
        """Record what the attempt really cost (None or 0.0 for an error: not billed)."""
        if not self._open or self._budget is None:
            return
        self._open = False
        self._budget._settle(self.amount, float(cost or 0.0))


#: A hold that reserves nothing (no budget).
NO_HOLD = Hold(None, 0.0)


class Budget:
    """Spend against ``max_cost`` USD for one run, shared by every thread.

    Args:
        max_cost: the budget in USD (>= 0).
    """

    def __init__(self, max_cost: float) -> None:
        max_cost = float(max_cost)
        if not max_cost >= 0:
            raise ValueError(f"max_cost must be a number of US dollars >= 0, got {max_cost!r}.")
        self.max_cost = max_cost
        self._lock = threading.Lock()
        self._spent = 0.0
        self._reserved = 0.0
        self._calls = 0
        self._refused = 0

    @property
    def spent(self) -> float:
        """USD spent by settled calls."""
        with self._lock:
            return self._spent

    @property
    def reserved(self) -> float:
        """USD reserved by calls in flight."""
        with self._lock:
            return max(0.0, self._reserved)

    @property
    def refused(self) -> int:
        """How many calls were not started for the budget."""
        with self._lock:
            return self._refused

    def reserve(self, amount: float, *, what: str = "the next call") -> Hold:
        """Reserve ``amount`` USD for one call about to start.

        Raises:
            BudgetExceededError: spent + reserved + amount would exceed the budget (the message says what was
                spent and how to continue).
        """
        amount = max(0.0, float(amount))
        with self._lock:
            if self._spent + self._reserved + amount > self.max_cost + 1e-12:
                self._refused += 1
                flight = f" (+${self._reserved:.4f} reserved by calls in flight)" if self._reserved > 0 else ""
                raise BudgetExceededError(
                    f"{STOP_PREFIX}: {usd(self._spent)} of max_cost {usd(self.max_cost)} spent in this run{flight}; "
                    f"{what} (~${amount:.4f}) would exceed it, so no further paid calls start. {CONTINUE}"
                )
            self._reserved += amount
            self._calls += 1
        return Hold(self, amount)

    def _settle(self, amount: float, cost: float) -> None:
        with self._lock:
            self._reserved -= amount
            self._spent += cost

    def __repr__(self) -> str:
        return f"Budget(max_cost={self.max_cost}, spent={self.spent:.6f}, reserved={self.reserved:.6f})"


def expected_cost(request: LLMRequest, price: Price, audio_tokens_per_second: float | None) -> float:
    """The cost a budget reserves for one attempt: input tokens (audio by seconds, text at ~4 characters per token)
    and ``max_output_tokens`` when set, else ``expected_output_tokens``."""
    from affectproxy.llm.estimate import audio_tokens, estimate_text_tokens

    audio, _ = audio_tokens(request, audio_tokens_per_second)
    output = request.max_output_tokens if request.max_output_tokens else request.expected_output_tokens
    return price.cost(Usage({"text": estimate_text_tokens(request), "audio": audio}, int(output)))


def hold_for(budget: Budget | None, request: LLMRequest, price: Price | None, spec: Any) -> Hold:
    """The layer's hook: a :class:`Hold` for one paid attempt (:data:`NO_HOLD` without a budget).

    Raises:
        UnpricedModelError: a budget is set and the model has no known price.
        BudgetExceededError: the attempt would take the run past its budget.
    """
    if budget is None:
        return NO_HOLD
    ids = list(request.segment_ids)
    who = (f"segment {ids[0]!r}" if len(ids) == 1 else f"{len(ids)} segments" if ids else "the next call")
    what = f"the next call ({who}: {request.provider}/{request.model})"
    if price is None:
        with budget._lock:
            budget._refused += 1
        raise UnpricedModelError(
            f"{STOP_PREFIX}: {request.provider}/{request.model} has no known price, so it cannot run under "
            f"max_cost {usd(budget.max_cost)}: add its price (llm={{'{request.provider}': {{'prices': "
            f"{{'{request.model}': {{'input': ..., 'output': ...}}}}}}}}, or a study file [llm.{request.provider}] "
            "prices table; USD per 1M tokens) or remove max_cost."
        )
    return budget.reserve(expected_cost(request, price, getattr(spec, "audio_tokens_per_second", None)), what=what)


def is_budget_stop(message: str) -> bool:
    """Whether a run summary's ``stopped`` message is a budget stop."""
    return message.startswith(STOP_PREFIX) or f": {STOP_PREFIX}" in message


__all__ = ["CONTINUE", "NO_HOLD", "STOP_PREFIX", "Budget", "Hold", "UnpricedModelError", "expected_cost", "hold_for",
           "is_budget_stop", "usd"]

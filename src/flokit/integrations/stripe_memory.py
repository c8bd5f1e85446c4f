"""What the Stripe mapper remembers per integration between deliveries (integrations.md §3).

Stripe's events do not carry everything the mapping needs: a renewal invoice does not say its
subscription was trialing, ``charge.refunded`` carries the cumulative refunded amount, a
cancellation may arrive twice (``cancel_at_period_end`` turned true, then ``deleted``), and a
charge has no ``metadata.user_id`` when the subscription had it. Each decision is recorded
under the provider event id that made it, so a redelivered event maps to the same canonical
event again (and the store answers duplicate) instead of being re-decided on later state.
"""

from __future__ import annotations

from typing import NamedTuple

from flokit.integrations.outcome import Memory


class RefundStep(NamedTuple):
    """One refund of a charge: its amount and the amount refunded before it (minor units)."""

    amount: int
    before: int


class StripeMemory:
    """Typed keys over an integration's ``Memory``."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    def user_of_customer(self, customer: str) -> str | None:
        return self._memory.get(f"customer:{customer}")

    def remember_user(self, customer: str, user_id: str) -> None:
        if self._memory.get(f"customer:{customer}") != user_id:
            self._memory.put(f"customer:{customer}", user_id)

    def plan_of(self, subscription: str) -> str | None:
        return self._memory.get(f"plan:{subscription}")

    def remember_plan(self, subscription: str, plan_id: str) -> None:
        if self._memory.get(f"plan:{subscription}") != plan_id:
            self._memory.put(f"plan:{subscription}", plan_id)

    def mark_trialing(self, subscription: str) -> None:
        if self._memory.get(f"trialing:{subscription}") is None:
            self._memory.put(f"trialing:{subscription}", "1")

    def converting_invoice(self, subscription: str, invoice: str) -> bool:
        """Whether ``invoice`` is the first paid invoice after the subscription's trial (decided
        once: the invoice that first asks is the one, and stays the one on redelivery)."""
        converted = self._memory.get(f"converted:{subscription}")
        if converted is not None:
            return converted == invoice
        if self._memory.get(f"trialing:{subscription}") is None:
            return False
        self._memory.put(f"converted:{subscription}", invoice)
        return True

    def claim_cancellation(self, subscription: str, event_id: str) -> bool:
        """Whether event ``event_id`` is the subscription's one cancellation."""
        owner = self._memory.get(f"cancelled:{subscription}")
        if owner is None:
            self._memory.put(f"cancelled:{subscription}", event_id)
            return True
        return owner == event_id

    def refund_step(self, event_id: str) -> RefundStep | None:
        """The refund event ``event_id`` already counted from memory, if it was."""
        value = self._memory.get(f"refund:{event_id}")
        amount, _, before = (value or "").partition(" ")
        if not (amount.isdigit() and before.isdigit()):
            return None
        return RefundStep(int(amount), int(before))

    def note_refunded(self, charge: str, cumulative: int) -> None:
        """The charge's ``amount_refunded`` is at least ``cumulative``."""
        if cumulative > self.refunded(charge):
            self._memory.put(f"refunded:{charge}", str(cumulative))

    def refunded(self, charge: str) -> int:
        """The largest ``amount_refunded`` of the charge seen so far."""
        value = self._memory.get(f"refunded:{charge}") or ""
        return int(value) if value.isdigit() else 0

    def count_refund(self, charge: str, event_id: str, cumulative: int) -> RefundStep:
        """For an event without the previous ``amount_refunded``: count the part of
        ``cumulative`` above what was counted before. A zero amount means nothing new (an
        older refund arriving after a newer one: the total stays right, the split does not)."""
        before = self.refunded(charge)
        step = RefundStep(max(cumulative - before, 0), before)
        if step.amount:
            self.note_refunded(charge, cumulative)
            self._memory.put(f"refund:{event_id}", f"{step.amount} {step.before}")
        return step

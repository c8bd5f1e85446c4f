"""Realistic event batches for the benchmarks: a taxonomy mix, ~300 bytes an event, 2% invalid."""

from __future__ import annotations

import json
import random
from typing import Any

PLANS = ["plan_annual_usd", "plan_monthly_usd", "plan_weekly_eur"]
CHANNELS = ["meta", "google_ads", "tiktok", "organic"]


def _properties(name: str, rng: random.Random, serial: str) -> dict[str, Any]:
    plan = rng.choice(PLANS)
    if name == "install_attributed":
        return {
            "campaign_id": f"cmp_{rng.randrange(500)}",
            "channel": rng.choice(CHANNELS),
            "ad_set_id": f"as_{rng.randrange(5000)}",
            "country": "US",
        }
    if name == "paywall_viewed":
        return {
            "paywall_id": f"pw_{rng.randrange(20)}",
            "offer_id": "intro_50",
            "plan_ids": PLANS,
            "context": "onboarding_step_3",
        }
    if name == "trial_started":
        return {"plan_id": plan, "trial_length_days": 7, "paywall_id": "pw_annual_v3"}
    if name in ("subscription_started", "renewal_completed"):
        return {
            "plan_id": plan,
            "revenue": 49.99,
            "currency": "USD",
            "transaction_id": f"txn_{serial}",
            "trial_converted": True,
            "store": "apple",
        }
    return {"plan_id": plan, "variant": "b"}


MIX = (
    ["paywall_viewed"] * 40
    + ["install_attributed"] * 15
    + ["trial_started"] * 15
    + ["subscription_started"] * 10
    + ["renewal_completed"] * 10
    + ["plan_changed"] * 10
)


def event(rng: random.Random, serial: str, valid: bool = True) -> dict[str, Any]:
    """One event; ``serial`` makes its insert_id and transaction_id unique."""
    name = rng.choice(MIX)
    doc: dict[str, Any] = {
        "event": name,
        "user_id": f"usr_{rng.randrange(10**9):09d}",
        "anonymous_id": f"anon_{rng.randrange(10**9):09d}",
        "timestamp": f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
        f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
        "insert_id": f"ins_{serial}",
        "properties": _properties(name, rng, serial),
    }
    if not valid:
        doc["timestamp"] = doc["timestamp"][:10]  # date only: rejected
    return doc


def batch(seed: int, size: int = 1000, invalid_share: float = 0.02) -> list[dict[str, Any]]:
    """``size`` unique events, ``invalid_share`` of them invalid, reproducible from ``seed``."""
    rng = random.Random(seed)
    bad = set(rng.sample(range(size), int(size * invalid_share)))
    return [event(rng, f"{seed}_{i}", i not in bad) for i in range(size)]


def encoded_batch(seed: int, size: int = 1000) -> bytes:
    return json.dumps({"events": batch(seed, size)}).encode()

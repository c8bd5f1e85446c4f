"""evt_ ids (contract §5): format, uniqueness, order by receipt."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from flokit.pipeline.ids import ID_PATTERN, IdGenerator, _encode50

FORMAT = re.compile(ID_PATTERN)


def test_format_is_evt_and_20_crockford_characters() -> None:
    ids = IdGenerator().batch(1000, 1_710_512_400_000)
    assert all(FORMAT.fullmatch(i) and len(i) == 24 for i in ids)
    assert not any(set(i[4:]) & set("ilou") for i in ids)


def test_the_first_ten_characters_are_the_millisecond() -> None:
    earlier = IdGenerator().batch(1, 1_710_512_400_000)[0]
    later = IdGenerator().batch(1, 1_710_512_400_001)[0]
    assert earlier[:14] != later[:14] and earlier < later


def test_ids_increase_within_and_across_batches_of_one_millisecond() -> None:
    gen = IdGenerator()
    ids = gen.batch(500, 5) + gen.batch(500, 5) + gen.batch(3, 6)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_a_clock_that_steps_back_never_makes_ids_go_back() -> None:
    gen = IdGenerator()
    ids = gen.batch(10, 1_000_000) + gen.batch(10, 999_000)
    assert ids == sorted(ids)


def test_random_part_differs_between_generators() -> None:
    first = IdGenerator().batch(1, 42)[0]
    second = IdGenerator().batch(1, 42)[0]
    assert first != second  # 49 random bits: a clash is a one-in-10^14 event


@given(start=st.integers(0, (1 << 49) - 1), count=st.integers(0, 3000))
def test_a_batch_is_each_counter_value_encoded_in_turn(start: int, count: int) -> None:
    """Ids are built run by run of 1,024 counter values; each must equal its own encoding."""
    gen = IdGenerator()
    gen._last_ms, gen._next = 7, start  # continue a counter at ``start`` in millisecond 7
    ids = gen.batch(count, 7)
    assert ids == [f"evt_{_encode50(7)}{_encode50(start + i)}" for i in range(count)]

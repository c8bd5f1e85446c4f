"""evt_ ids (contract §5): format, uniqueness, order by receipt."""

from __future__ import annotations

import re

from flokit.pipeline.ids import ID_PATTERN, IdGenerator

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

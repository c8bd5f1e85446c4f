"""Decode stage: the JSON envelope into raw events, each decoded and validated on its own later.

Only the envelope is parsed here, so one bad event never sinks the other 999.
"""

from __future__ import annotations

import re

import msgspec

from flokit.errors import BatchTooLarge, InvalidJson, InvalidRequest

_document = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_BYTE_AT = re.compile(r"\(byte (\d+)\)")


def decode_batch(body: bytes, max_events: int) -> list[msgspec.Raw]:
    """``{"events": [...]}`` into its 1..max_events raw events, or the contract's 400."""
    return decode_array(body, "events", "event", max_events)


def decode_array(body: bytes, member: str, item: str, most: int) -> list[msgspec.Raw]:
    """``{member: [...]}`` (a batch of events, of spend rows…) into its 1..most raw items, or
    a 400 naming ``member``."""
    value = decode_object(body).get(member)
    if value is None or bytes(value) == b"null":
        article = "an" if member[0] in "aeiou" else "a"
        raise InvalidRequest(f"The body must have {article} `{member}` array", field=member)
    try:
        raws = _raw_list.decode(value)
    except msgspec.ValidationError:
        raise InvalidRequest(f"`{member}` must be an array of {member}", field=member) from None
    if not raws:
        raise InvalidRequest(f"`{member}` must hold at least one {item}", field=member)
    if len(raws) > most:
        raise BatchTooLarge(
            f"The batch has {len(raws)} {member}; the limit is {most} per request", field=member
        )
    return raws


def decode_object(body: bytes) -> dict[str, msgspec.Raw]:
    """The body as a JSON object of raw members; malformed JSON names its line and column."""
    if not body.isascii():  # C-speed check first: most bodies are pure ASCII
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJson(f"The body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return _document.decode(body)
    except msgspec.ValidationError:
        raise InvalidRequest("The body must be a JSON object") from None
    except msgspec.DecodeError as exc:
        raise InvalidJson(_describe(str(exc), body)) from None
    except RecursionError:
        raise InvalidJson("The body is not valid JSON: it is nested too deeply") from None


def _describe(problem: str, body: bytes) -> str:
    """msgspec's message, with the byte offset turned into a line and column a person can find."""
    if "UTF-8" in problem:
        return "The body is not valid UTF-8"
    match = _BYTE_AT.search(problem)
    offset = int(match.group(1)) if match else len(body)
    line = body.count(b"\n", 0, offset) + 1
    column = offset - (body.rfind(b"\n", 0, offset) + 1) + 1
    detail = _BYTE_AT.sub("", problem.removeprefix("JSON is malformed: ")).strip()
    if "truncated" in detail:
        detail = "it ends early (truncated)"
    return f"The body is not valid JSON: {detail} at line {line}, column {column}"

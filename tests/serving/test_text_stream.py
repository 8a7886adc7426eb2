"""TextStream: whole UTF-8 characters out, stop strings cut and never partly sent."""

from modelarena.engines.text_stream import TextStream


def run(pieces: list[bytes], stop: list[str], strip: bool = False) -> tuple[list[str], str, bool]:
    stream = TextStream(stop, strip)
    out = [stream.feed(p) for p in pieces]
    return out, stream.finish(), stream.stopped


def test_plain_text_passes_through_immediately():
    out, tail, stopped = run([b"Hello", b" world"], [])
    assert out == ["Hello", " world"] and tail == "" and not stopped


def test_split_utf8_character_waits_for_its_last_byte():
    euro = "€".encode()
    out, tail, _ = run([b"a" + euro[:1], euro[1:2], euro[2:] + b"b"], [])
    assert out == ["a", "", "€b"] and tail == ""


def test_stop_string_across_pieces_is_cut_and_never_sent():
    out, tail, stopped = run([b"Paris.", b"\nUs", b"er:", b" more"], ["\nUser:"])
    assert "".join(out) + tail == "Paris."
    assert stopped
    assert all("\n" not in chunk for chunk in out)


def test_held_back_prefix_is_released_when_it_turns_out_not_to_be_a_stop():
    out, tail, stopped = run([b"a\nU", b"nder"], ["\nUser:"])
    assert out[0] == "a" and "".join(out) + tail == "a\nUnder" and not stopped


def test_text_held_back_at_the_end_is_flushed_by_finish():
    out, tail, stopped = run([b"end\nUs"], ["\nUser:"])
    assert out == ["end"] and tail == "\nUs" and not stopped


def test_earliest_of_several_stop_strings_wins():
    out, tail, _ = run([b"one two three"], ["three", "two"])
    assert out == ["one "] and tail == ""


def test_leading_whitespace_is_stripped_only_at_the_start():
    out, tail, _ = run([b" ", b"  Hi", b" there"], [], strip=True)
    assert "".join(out) == "Hi there"

"""The batch decoder's interface: devices, open epochs across batches, counts, arrival times."""

from __future__ import annotations

from datetime import UTC, datetime

from gnss.epoch.batch import BatchDecoder
from gnss.epoch.decoder import Decoder
from gnss.model import RawChunk

from .helpers import nmea

ARRIVAL = datetime(2026, 6, 30, 12, 0, 5, tzinfo=UTC).timestamp()


def cycle(second: int, with_date: bool = True) -> bytes:
    time = f"1200{second:02d}"
    lines = [nmea(f"GNGGA,{time},3035.6000,N,11418.3300,E,1,12,0.9,30.0,M,8.3,M,,")]
    if with_date:
        lines.append(nmea(f"GNRMC,{time},A,3035.6000,N,11418.3300,E,1.0,,300626,,,A,V"))
    lines.append(nmea("GNGSA,A,3,02,09,13,14,,,,,,,,,1.6,0.9,1.3,1"))
    return b"".join(line + b"\r\n" for line in lines)


def test_devices_are_decoded_apart_in_one_batch() -> None:
    decoder = BatchDecoder()
    chunks = [RawChunk(d, cycle(s), ARRIVAL) for s in range(4) for d in ("a", "b")]
    result = decoder.decode(chunks)
    # The first cycle closes when the second begins, which teaches the ender (GSA): the
    # others close on their own GSA.
    assert [len(result.fixes[d]) for d in ("a", "b")] == [4, 4]
    assert result.counts["a"].accepted == 12 and decoder.totals["b"].lines == 12
    assert [len(v) for v in decoder.flush().values()] == [0, 0]


def test_an_epoch_open_at_the_end_of_a_batch_closes_in_the_next() -> None:
    decoder = BatchDecoder()
    batches = [decoder.decode([RawChunk("a", cycle(s), ARRIVAL)]) for s in range(3)]
    assert [len(b.fixes["a"]) for b in batches] == [0, 2, 1]
    lines = cycle(3).splitlines(keepends=True)
    first = decoder.decode([RawChunk("a", lines[0], ARRIVAL)])
    rest = decoder.decode([RawChunk("a", b"".join(lines[1:]), ARRIVAL + 1)])
    # The ender (GSA) is known: the fourth cycle closes on its own GSA, in the next batch.
    assert (len(first.fixes["a"]), len(rest.fixes["a"])) == (0, 1)
    assert rest.fixes["a"][0].received_at == datetime.fromtimestamp(ARRIVAL + 1, UTC)
    assert rest.counts["a"].lines == 2 and decoder.totals["a"].lines == 12


def test_flush_one_device() -> None:
    decoder = BatchDecoder()
    decoder.decode([RawChunk("a", cycle(0), ARRIVAL), RawChunk("b", cycle(0), ARRIVAL)])
    assert list(decoder.flush("a")) == ["a"]
    assert list(decoder.flush()) == ["a", "b"]


def test_gga_only_devices_are_dated_by_arrival_unless_told_otherwise() -> None:
    chunks = [RawChunk("a", b"".join(cycle(s, with_date=False) for s in range(3)), ARRIVAL)]
    live = BatchDecoder()
    fixes = live.decode(chunks).fixes["a"] + live.flush()["a"]
    assert [f.time.date().isoformat() for f in fixes] == ["2026-06-30"] * 3
    replay = BatchDecoder(arrival_times=False)
    assert replay.decode(chunks).fixes["a"] + replay.flush()["a"] == []
    assert replay.totals["a"].undated_epochs == 3


def test_lines_are_attributed_to_the_path_that_decided_them() -> None:
    decoder = BatchDecoder()
    decoder.decode([RawChunk("a", b"".join(cycle(s) for s in range(30)), ARRIVAL)])
    paths = decoder.lines_by_path
    assert paths["columns"] + paths["reference"] == 90 and paths["columns"] > paths["reference"]


def test_a_new_stream_learns_its_cycle_on_the_columns() -> None:
    """10,000 devices connecting at once must not all go through the reference parser: a
    clean stream learns its ender on the columns, whole or one cycle per batch."""
    whole = BatchDecoder()
    whole.decode([RawChunk("a", b"".join(cycle(s) for s in range(5)), ARRIVAL)])
    apart = BatchDecoder()
    found = [len(apart.decode([RawChunk("a", cycle(s), ARRIVAL)]).fixes["a"]) for s in range(5)]
    assert found == [0, 2, 1, 1, 1]
    for decoder in (whole, apart):
        assert decoder.lines_by_path == {"columns": 15}
        assert decoder.states["a"].ender is not None


def test_a_first_cycle_only_the_reference_reads_is_learned_there() -> None:
    """A line of the first cycle the columns decline (here a lowercase talker) could be its
    last sentence: that device learns on the reference path, with the reference's result."""
    first = cycle(0).replace(b"\r\n" + nmea("GNGSA,A,3,02,09,13,14,,,,,,,,,1.6,0.9,1.3,1"), b"")
    first += nmea("GnGSA,A,3,02,09,13,14,,,,,,,,,1.6,0.9,1.3,1") + b"\r\n"
    data = first + cycle(1) + cycle(2)
    decoder = BatchDecoder()
    fixes = decoder.decode([RawChunk("a", data, ARRIVAL)]).fixes["a"] + decoder.flush()["a"]
    reference = Decoder()
    assert fixes == reference.feed_chunk(RawChunk("a", data, ARRIVAL)) + reference.flush()
    assert len(fixes) == 3 and decoder.lines_by_path["reference"] >= 4


def test_the_open_epoch_can_be_read_back_for_resuming() -> None:
    decoder = BatchDecoder()
    decoder.decode([RawChunk("a", cycle(0) + cycle(1), ARRIVAL)])
    first = cycle(2).splitlines()[0]
    decoder.decode([RawChunk("a", first + b"\r\n", ARRIVAL)])
    assert decoder.open_lines("a") == [first]
    assert decoder.open_lines("unknown") == []

"""One layout per sentence type, read by both the reference handlers and the compiled scanner."""

from __future__ import annotations

import inspect
import re

from gnss.nmea import handlers, layout, scan


def test_the_reference_table_takes_its_minimums_from_the_layouts() -> None:
    assert {kind: minimum for kind, (minimum, _) in handlers.TABLE.items()} == layout.MIN_FIELDS
    assert set(layout.LAYOUTS) == set(handlers.TABLE)


def test_the_minimums_are_gpsds() -> None:
    assert layout.MIN_FIELDS == {
        "GGA": 12,
        "RMC": 7,
        "GNS": 12,
        "GLL": 6,
        "GSA": 17,
        "GSV": 3,
        "VTG": 4,
        "ZDA": 4,
        "GST": 7,
        "TXT": 4,
    }


def test_no_reader_names_a_field_by_a_bare_number() -> None:
    """Every field index either side comes from a layout, so the two cannot drift apart."""
    reference = inspect.getsource(handlers)
    compiled = inspect.getsource(scan)
    assert re.findall(r"\bd\[\d+\]", reference) == []
    assert re.findall(r"bounds, fields, \d", compiled) == []


def test_a_value_sits_where_its_layout_says() -> None:
    line = "$GPGST,120000.00,1.2,0.8,0.6,30.0,0.9,0.7,1.5*"
    body = line[1:-1]
    checksum = 0
    for c in body.encode():
        checksum ^= c
    text = f"{line}{checksum:02X}"
    data = text[7:-3].split(",")
    first = layout.GST.sigmas
    expected = [float(v) for v in data[first : first + 3]]
    lines = scan.decode_lines(text.encode() + b"\n")
    assert lines.sigma[0].tolist() == expected
    gst = handlers.TABLE["GST"][1]("GP", handlers.Fields(data))
    assert [gst.sigma_lat_m, gst.sigma_lon_m, gst.sigma_alt_m] == expected

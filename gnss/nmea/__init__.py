"""NMEA 0183 lines to typed sentences: framing, field conversions and one table per sentence.

Two readers of the same sentences, side by side: :mod:`gnss.nmea.parser` (the reference
parser, one line at a time, over :mod:`gnss.nmea.handlers`) and :mod:`gnss.nmea.scan` (the
compiled scanner of a whole buffer into the columns of :mod:`gnss.nmea.lines`, reading fields
with :mod:`gnss.nmea.scan_fields`). :mod:`gnss.nmea.fields` holds the strict conversions both
agree on, :mod:`gnss.nmea.sentences` the typed sentences and named rejections, and
:mod:`gnss.nmea.framing` turns a byte stream into lines. Import the module you need.
"""

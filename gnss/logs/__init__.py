"""Recorded NMEA logs in (:mod:`gnss.logs.reader`) and fixes out as JSON lines
(:mod:`gnss.logs.export`)."""

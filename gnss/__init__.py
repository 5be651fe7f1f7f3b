"""GNSS layer: NMEA 0183 lines in, typed BeiDou-aware fixes out.

Nothing here imports another partymap package (DESIGN §1); parsing and epoch assembly are pure
functions of their input, and I/O lives in :mod:`gnss.sources`. This package imports nothing by
itself (sources stay light); import the module you need.

Decoding — both give identical fixes and counts (DESIGN "Two paths, one truth"):

- Reference path, one device, line by line: :class:`gnss.epoch.decoder.Decoder`.
  ``Decoder(state=None)``; ``feed(line, received_at=None) -> list[Fix]`` (a line without its
  ending; returns the fixes of the epochs it closed); ``feed_chunk(chunk: RawChunk)``;
  ``feed_lines(lines, received_at)``; ``flush() -> list[Fix]`` at the end of a stream;
  ``counts: Counts`` (``lines``, ``accepted``, ``rejected`` by reason, ``fixes``,
  ``untimed_epochs``, ``undated_epochs``). ``decode_lines(lines) -> Iterator[Fix]`` for a
  finite stream.
- Fast path, many devices per micro-batch: :class:`gnss.epoch.batch.BatchDecoder`.
  ``BatchDecoder(arrival_times=True)``; ``decode(chunks: Sequence[RawChunk]) -> BatchResult``
  with ``fixes[device_id]`` (in order) and ``counts[device_id]`` for the batch;
  ``totals[device_id]``; ``flush(device_id=None) -> dict[str, list[Fix]]``;
  ``open_lines(device_id)`` (the open epoch's lines, for resuming a replay). Device state is
  kept across batches; chunks must hold complete lines (:class:`gnss.nmea.framing.LineBuffer`).
- Logs: :func:`gnss.logs.reader.read_log` (gpsd-format headers and delay cookies) and
  :func:`gnss.logs.reader.decode_log` ``(data, fast=True) -> LogFixes(fixes, counts)``.
- One sentence: :func:`gnss.nmea.parser.parse_line` ``(line) -> list[Sentence | Rejection]``.
- Output: :func:`gnss.logs.export.fix_json` / ``fix_jsonl`` (the ``partymap gnss fixes`` format).
- Simulated receivers (demos, tests, benchmarks) live outside the product, in :mod:`devkit`.
- JT/T 808 terminals (helmets, badges, vehicle terminals): :mod:`gnss.jt808` — frames to typed
  messages and locations and back, and the session state machine that decides the platform's
  answers; sans-IO, every frame accepted or rejected with a reason.

What a :class:`~gnss.model.Fix` carries, and when an epoch is not one:

- Every epoch with a time of day and a date becomes a ``Fix``; without a valid position it has
  mode NO_FIX (the device is alive). ``received_at`` is the arrival of the epoch's last line;
  ``raw_position`` the text of its first valid GGA/RMC/GNS/GLL.
- An epoch whose sentences carry no time (cold start) is counted as ``untimed``. Dates come
  from RMC or ZDA, carried forward across midnight; a receiver that never sends one (GGA only)
  is dated from ``received_at``, and counted as ``undated`` when that is unknown (log replay).

Stages, each a folder with the readable rule beside its batch twin:

- :mod:`gnss.nmea`: framing, fields, sentences; the reference parser and the compiled scanner.
- :mod:`gnss.epoch`: epoch rules, assembly (date, mode, accuracy), the reference decoder, the
  batch decoder and the process that runs it on a core of its own.
- :mod:`gnss.logs`: recorded logs in, JSON lines out.
- :mod:`gnss.sources` (I/O) and :mod:`gnss.jt808` (JT/T 808 terminals, no I/O).
- :mod:`gnss.model` (``Fix``), :mod:`gnss.fixtable` (fixes as columns), :mod:`gnss.jit`.
"""

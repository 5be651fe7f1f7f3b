"""JT/T 808: the national protocol of BeiDou/GNSS terminals (helmets, badges, vehicle
terminals), 2011, 2013 and 2019 versions — pure code, no sockets or clocks (sans-IO).

Bytes in, typed values out, and back; every frame read is a message or a counted rejection,
never an exception. Import the module you need:

- :mod:`~gnss.jt808.framing`: 0x7e flags, 0x7d escapes, the XOR check code; ``Deframer`` cuts a
  TCP stream into frames however it was split into reads.
- :mod:`~gnss.jt808.header`: the 2011/2013 and 2019 headers (phone number, serial, packets).
- :mod:`~gnss.jt808.layout`: message bodies as tables of fields, read and written by the same
  table; :mod:`~gnss.jt808.messages` holds the table of each message partymap reads or writes.
- :mod:`~gnss.jt808.location`: location information (alarm and status bits, position, time,
  additional items) and how it maps onto :class:`gnss.model.Fix`.
- :mod:`~gnss.jt808.codec`: ``decode(frame)``, ``encode(message)`` and ``Reader`` (a
  connection's reads in, messages and rejections out, counted).
- :mod:`~gnss.jt808.reasons`: rejection reasons and counts.

Sub-packaged (multi-packet) messages are answered "not supported" rather than reassembled:
every message partymap reads fits one packet (a body holds up to 1023 bytes, a batch of about
thirty locations, and terminals split longer backlogs into several batches), and holding the
early packets of a message until its last one arrives would either acknowledge them before their
locations are stored or leave terminals that wait for each packet's answer waiting for ever.
Encrypted (RSA) bodies are answered "not supported" too.
"""

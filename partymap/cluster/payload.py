"""What one NATS message can carry: chunks cut to fit the servers' ``max_payload``.

A NATS server refuses a message longer than its ``max_payload`` (1 MB by default; the client
refuses to send one, and a server that still gets one closes the connection), and trying the
same message again never helps. So an edge never makes one: its messages stay below
``max_payload`` less :data:`MESSAGE_MARGIN` (the message id header and the message's own
columns), and a chunk longer than that (a large HTTP body, a large MQTT payload) is cut at line
boundaries into pieces that each fit. The pieces stay in order in the device's partition, each
a chunk of its own, and a worker reads them as the device's next lines, as it reads a TCP
device's successive reads; each message keeps its own id, so every piece is stored once.

A single line longer than a whole message cannot be carried. HTTP ingest refuses such a body
(413) before publishing anything; from the other sources the line is dropped, logged and
counted (``partymap_cluster_oversized_lines_dropped``): a line that long is binary protocol or
garbage, which the pipeline would reject as ``too_long`` anyway.

>>> fit(b"aaaa\\nbb\\ncccccccc\\nd\\n", 8)
([b'aaaa\\nbb\\n', b'd\\n'], 1)
>>> fit(b"aa\\nbb\\n", 8)
([b'aa\\nbb\\n'], 0)
>>> longest_line(b"aa\\nbbbb\\nc")
5
"""

from __future__ import annotations

# Room left in a message for its columns (about 20 bytes per chunk plus the names, already
# counted per chunk by the edge), the NATS headers (the message id, under 100 bytes) and slack.
MESSAGE_MARGIN = 1024
# What the edge counts per chunk beyond its bytes and its device id: its columns.
CHUNK_COLUMNS = 20


def message_room(max_payload: int) -> int:
    """The bytes of chunks (counted as the edge counts them) one message may hold."""
    return max(max_payload - MESSAGE_MARGIN, 1)


def fit(data: bytes, room: int) -> tuple[list[bytes], int]:
    """``data`` (complete lines) cut at line boundaries into pieces of at most ``room`` bytes,
    and how many lines were dropped because each alone is longer than ``room``."""
    if len(data) <= room:
        return [data], 0
    pieces: list[bytes] = []
    dropped = 0
    start, size = 0, len(data)
    while start < size:
        if size - start <= room:
            pieces.append(data[start:])
            break
        cut = data.rfind(b"\n", start, start + room) + 1
        if cut > start:
            pieces.append(data[start:cut])
            start = cut
            continue
        end = data.find(b"\n", start)  # one line longer than a whole piece: dropped
        dropped += 1
        start = size if end < 0 else end + 1
    return pieces, dropped


def longest_line(data: bytes) -> int:
    """The length of ``data``'s longest line, its line break included."""
    longest = start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        longest = max(longest, end - start)
        start = end
    return longest

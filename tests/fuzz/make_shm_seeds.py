#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_shm_ring and fuzz_shm_handshake: real ring states (empty,
holding frames, wrapped, near the 2^64 wrap of the positions, damaged by a client) and real
connection setups (accepted, refused, short, carrying extra descriptors). The frames are the
protocol messages of fuzz_ipc_frame's corpus. Run from the repository root:
    python3 tests/fuzz/make_shm_seeds.py
The input layouts are described at the top of fuzz_shm_ring.cpp and fuzz_shm_handshake.cpp."""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent
FRAMES = {p.name: p.read_bytes() for p in (ROOT / "corpus" / "fuzz_ipc_frame").iterdir()}
RING_HEADER = 192  # sizeof(RingHeader): two 64-byte lines, then the flags and capacity
SEGMENT_HEADER = 64


def capacity_of(select):
    return 64 << (select % 5)


def ring_data(capacity, write_pos, frames):
    """The data bytes of a ring whose frames start at write_pos (a writer put them there)."""
    data = bytearray(capacity)
    pos = write_pos
    for frame in frames:
        for b in struct.pack("<I", len(frame)) + frame:
            data[pos % capacity] = b
            pos += 1
    return bytes(data), pos


# Script steps of fuzz_shm_ring.
def daemon_read():
    return b"\x00"


def client_write(frame):
    return b"\x01" + bytes([len(frame)]) + frame


def daemon_send(frame):
    return b"\x02" + bytes([len(frame)]) + frame


def client_read():
    return b"\x03"


def move_incoming(delta, write):
    return b"\x04" + struct.pack("<Q", delta % 2**64) + bytes([1 if write else 0])


def move_outgoing(delta, read):
    return b"\x05" + struct.pack("<Q", delta % 2**64) + bytes([1 if read else 0])


def scribble(at, value):
    return b"\x06" + struct.pack("<Q", at) + bytes([value])


def flags(value):
    return b"\x07" + bytes([value])


def ring_seed(select, read_pos, frames, script, write_pos=None, waiting=(0, 0)):
    capacity = capacity_of(select)
    data, end = ring_data(capacity, read_pos, frames)
    write = end if write_pos is None else write_pos
    header = struct.pack("<QQII", write % 2**64, read_pos, *waiting)
    return bytes([select]) + header + data + script


def ring_seeds():
    submit, hello, delta = FRAMES["submit"], FRAMES["hello"], FRAMES["delta"]
    seeds = {}
    # A fresh connection: the client says hello and submits; the daemon reads and answers.
    seeds["fresh_hello_submit"] = ring_seed(
        4, 0, [], client_write(hello) + daemon_read() + client_write(submit) + daemon_read() +
        daemon_send(delta) + client_read() + daemon_read())
    # Many small frames in a 64-byte ring: writes fail for room, reads free it again.
    seeds["small_ring_full"] = ring_seed(
        0, 0, [], client_write(delta) + client_write(delta) + client_write(delta) + daemon_read() +
        client_write(delta) + daemon_read() + daemon_read() + daemon_read() +
        daemon_send(b"x" * 60) + daemon_send(b"y") + client_read() + daemon_send(b"y"))
    # Frames already waiting, the first one wrapping around the end of the data.
    seeds["wrapped_frames"] = ring_seed(
        2, 240, [submit, hello], daemon_read() + daemon_read() + daemon_read())
    # Positions just below 2^64: they wrap while the frames go through.
    seeds["positions_near_wrap"] = ring_seed(
        3, 2**64 - 20, [submit], daemon_read() + daemon_read() + flags(16) + daemon_read())
    # Damaged by the client: a length prefix larger than what was written.
    seeds["length_too_large"] = ring_seed(
        1, 0, [hello], scribble(3, 0x7f) + daemon_read() + daemon_read())
    # write_pos far ahead of read_pos (more than the capacity), then behind it.
    seeds["write_pos_ahead"] = ring_seed(
        1, 0, [delta], daemon_read() + move_incoming(1 << 40, True) + daemon_read())
    seeds["read_pos_ahead"] = ring_seed(
        1, 64, [], move_incoming(-8, False) + daemon_read(), write_pos=64)
    # The client moves the reply ring's read_pos past write_pos, then far behind it: the
    # daemon must find no room rather than overwrite.
    seeds["reply_ring_read_pos"] = ring_seed(
        2, 0, [], daemon_send(delta) + move_outgoing(-100, True) + daemon_send(delta) +
        move_outgoing(1 << 20, True) + daemon_send(delta))
    # Wait flags set by the client: every read and write then wakes the other side.
    seeds["wait_flags"] = ring_seed(
        2, 0, [hello], flags(0x0f) + daemon_read() + daemon_send(delta) + flags(0x1f) +
        daemon_read(), waiting=(1, 1))
    return seeds


def setup_message(accepted=1, segment_bytes=0, refusal=b"", magic=b"MMDSHM1\0", version=1):
    return magic + struct.pack("<IIQ", version, accepted, segment_bytes) + refusal.ljust(232, b"\0")


def segment_image(to_daemon, to_client, to_client_frames=(), to_daemon_frames=()):
    out = struct.pack("<IIQQ", 0x4D4D4453, 1, to_daemon, to_client).ljust(SEGMENT_HEADER, b"\0")
    for capacity, frames in ((to_daemon, to_daemon_frames), (to_client, to_client_frames)):
        data, end = ring_data(capacity, 0, frames)
        header = struct.pack("<Q", end).ljust(64, b"\0") + struct.pack("<Q", 0).ljust(64, b"\0")
        header += struct.pack("<IIQ", 0, 0, capacity).ljust(64, b"\0")
        out += header + data
    return out


def handshake_seeds():
    seeds = {}
    image = segment_image(1024, 1024, [FRAMES["delta"]], [FRAMES["submit"]])
    seeds["accepted"] = b"\x01" + setup_message(segment_bytes=len(image)) + image
    small = segment_image(64, 128)
    seeds["accepted_small_rings"] = b"\x01" + setup_message(segment_bytes=len(small)) + small
    seeds["accepted_in_two_pieces"] = b"\x09" + setup_message(segment_bytes=len(small)) + small
    seeds["refused"] = b"\x00" + setup_message(accepted=0, refusal=b"uid 1000 may not connect")
    seeds["short_setup"] = b"\x01" + setup_message(segment_bytes=len(small))[:100]
    seeds["wrong_size"] = b"\x01" + setup_message(segment_bytes=len(small) + 64) + small
    bad_caps = segment_image(64, 128)[:8] + struct.pack("<QQ", 96, 128) + small[24:]
    seeds["capacity_not_power_of_two"] = b"\x01" + setup_message(segment_bytes=len(small)) + bad_caps
    seeds["no_descriptor"] = b"\x00" + setup_message(segment_bytes=len(small)) + small
    seeds["bad_magic"] = b"\x01" + setup_message(magic=b"HTTP/1.1") + small
    # A second descriptor, with the same message or the next piece.
    seeds["two_descriptors"] = b"\x03" + setup_message(segment_bytes=len(small)) + small
    seeds["two_descriptors_two_pieces"] = b"\x0f" + setup_message(segment_bytes=len(small)) + small
    return seeds


def main():
    for target, seeds in (("fuzz_shm_ring", ring_seeds()), ("fuzz_shm_handshake", handshake_seeds())):
        folder = ROOT / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()

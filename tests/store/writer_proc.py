"""A store writer for the kill test: writes in a loop and acknowledges each write once it has returned.

    python tests/store/writer_proc.py STORE_DIR SEED     (acknowledgements on stdout)

The test runs `write_until_killed` in a process forked from a server that has
already imported the store (multiprocessing's forkserver), so each round costs
a fork rather than an interpreter start; the kill is the same SIGKILL of the
process doing the writes. It opens a run per stream (closing runs a previous
kill left open first), says READY once the store is open, then after each
write has returned:
    ACK asset <id> <sha256>
    ACK record <run id> <seq> <text>
    ACK synced <id>
    ACK batch <id> <id> ...          (add_many: one transaction)
The test kills it with SIGKILL at a random moment; every ACKed write must survive.
"""

from __future__ import annotations

import random
import sys
import traceback
from collections.abc import Callable

from edge.events import CaptionEvent
from edge.store import AssetStore

KINDS = ("keyframe", "upload", "media", "note", "draft", "sensor_series")


def main(root: str, seed: int, say: Callable[[str], None]) -> None:
    rng = random.Random(seed)
    with AssetStore(root) as store:
        store.records.close_open_runs("killed")
        runs = [store.records.open_run(f"cam{n}", f"rtsp://cam{n}", live=True) for n in range(2)]
        say("READY")
        i = 0
        while True:
            i += 1
            data = rng.randbytes(rng.randint(1, 4096))
            asset = store.add_bytes(data, kind=rng.choice(KINDS), name=f"w{seed}-{i}", tags=[f"seed{seed}"])
            say(f"ACK asset {asset.id} {asset.sha256}")

            run = runs[i % 2]
            t = float(i)
            for rec in store.records.append_captions(run, [
                    CaptionEvent("final", run.stream, f"caption-{seed}-{i}-a", t, t + 0.4, t + 0.9),
                    CaptionEvent("partial", run.stream, "never stored", t, t + 0.5, t + 0.6),
                    CaptionEvent("final", run.stream, f"caption-{seed}-{i}-b", t + 0.5, t + 0.9, t + 1.1)]):
                say(f"ACK record {rec.run} {rec.seq} {rec.text}")

            if i % 5 == 0:
                store.mark_synced(asset.id)
                say(f"ACK synced {asset.id}")
            if i % 7 == 0:
                batch = store.add_many({"data": rng.randbytes(64), "kind": "sensor_series", "name": f"b{i}-{j}"}
                                       for j in range(3))
                say("ACK batch " + " ".join(a.id for a in batch))


def write_until_killed(root: str, seed: int, acks) -> None:
    """`main` with its acknowledgements sent on `acks` (a multiprocessing Connection), errors too."""
    try:
        main(root, seed, lambda line: acks.send_bytes(line.encode()))
    except BaseException:
        acks.send_bytes(("ERROR " + traceback.format_exc()).encode())
        raise


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), lambda line: print(line, flush=True))

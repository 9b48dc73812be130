"""A store writer for the kill test: writes in a loop and acknowledges each write on stdout.

    python tests/store/writer_proc.py STORE_DIR SEED

Prints READY once the store is open, then after each write has returned:
    ACK asset <id> <sha256>
    ACK caption <caption id>
    ACK synced <id>
The test kills it with SIGKILL at a random moment; every ACKed write must survive.
"""

from __future__ import annotations

import random
import sys

from edge.events import CaptionEvent
from edge.store import AssetStore

KINDS = ("keyframe", "upload", "media", "note", "draft", "sensor_series")


def main(root: str, seed: int) -> None:
    rng = random.Random(seed)
    with AssetStore(root) as store:
        print("READY", flush=True)
        i = 0
        while True:
            i += 1
            data = rng.randbytes(rng.randint(1, 4096))
            asset = store.add_bytes(data, kind=rng.choice(KINDS), name=f"w{seed}-{i}", tags=[f"seed{seed}"])
            print(f"ACK asset {asset.id} {asset.sha256}", flush=True)

            stream = f"cam{i % 2}"
            t = float(i)
            store.captions.append([CaptionEvent("final", stream, f"caption {seed} {i}", t, t + 0.5, t + 0.9)])
            print(f"ACK caption {store.captions.last_id(stream)}", flush=True)

            if i % 5 == 0:
                store.mark_synced(asset.id)
                print(f"ACK synced {asset.id}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

"""``python -m netsuite.sandbox``: serve a NetSuite sandbox in a process of its own.

Prints one JSON line with its URL and the (generated, sandbox-only) credentials it accepts,
then serves on 127.0.0.1 until SIGTERM. The posting benchmark runs it this way, so the
sandbox's work does not share a CPU lock with the process being measured.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from ecomops.sandbox_http import SandboxServer
from netsuite.sandbox.server import build_netsuite_sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account-id", default="1234567_SB1")
    options = parser.parse_args(argv)
    app, credentials = build_netsuite_sandbox(options.account_id)
    server = SandboxServer(app, port=options.port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sys.stdout.write(json.dumps({"url": server.url, **credentials.__dict__}) + "\n")
    sys.stdout.flush()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()

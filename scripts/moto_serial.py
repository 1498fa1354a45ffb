"""moto's server (AWS API stand-in: DynamoDB, Cognito, S3, KMS, ...) handling
one request at a time.

DynamoDB makes each conditional write and each transaction atomic; moto's
stock `moto_server` runs threaded and does not lock, so two concurrent
conditional writes can both pass their condition there. Serving requests one
after another restores DynamoDB's per-request atomicity, which the
concurrency tests of the store conformance suite rely on.

usage: python3 scripts/moto_serial.py HOST PORT
"""

import os
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, processes=1, use_reloader=False)


if __name__ == "__main__":
    main()

"""Serve the app to a class: N app processes behind HAProxy, one command, Ctrl-C stops it all.

    python -m alibi_lsh.classroom.serve --processes 2 --port 8501                    # this machine only
    python -m alibi_lsh.classroom.serve --processes 2 --port 8501 --address 0.0.0.0  # students on the network
    python -m alibi_lsh.classroom.serve --processes 2 --backend HOST:8501 --backend HOST2:8501 --address 0.0.0.0

A Streamlit process runs its scripts under one Python interpreter lock, so it uses about one core;
a class needs about one process per core, and each browser must stay on the process that holds
its session (``alibi_lsh.classroom.proxy`` says how the proxy keeps it there). ``--backend``
adds app processes running on other machines (``streamlit run app.py --server.address 0.0.0.0``).
The proxy's configuration is written next to the logs, ready to copy.
"""

from __future__ import annotations

import argparse
import os
import signal
import time

from ..cli_args import bounded_int, listen_address, make_output_dir, output_dir, run_command
from .bench_gate import INSTRUCTOR_ENV
from .servers import MAX_PROCESSES, Classroom


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alibi_lsh.classroom.serve", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--processes",
        type=bounded_int(0, MAX_PROCESSES),
        default=min(MAX_PROCESSES, os.cpu_count() or 1),
        help=f"app processes on this machine, 0..{MAX_PROCESSES} (default: one per core)",
    )
    parser.add_argument(
        "--port",
        type=bounded_int(0, 65535),
        default=8501,
        help="the port students open, 0..65535 (default 8501; 0 picks one)",
    )
    parser.add_argument(
        "--address",
        type=listen_address,
        default="127.0.0.1",
        help="where the proxy listens: an address of this machine (default 127.0.0.1; 0.0.0.0 lets others in)",
    )
    parser.add_argument(
        "--backend", action="append", default=[], metavar="HOST:PORT", help="an app process on another machine"
    )
    parser.add_argument(
        "--log-dir",
        type=output_dir,
        default=None,
        help="keep logs and the proxy configuration here; only its last folder is created (default: a temporary one)",
    )
    parser.add_argument(
        "--instructor",
        action="store_true",
        help=f"instructor mode: the Scaling page's Run has no caps (sets {INSTRUCTOR_ENV}=1 for the app processes)",
    )
    return parser


def serve(args: argparse.Namespace) -> int:
    """Start the classroom, then wait for Ctrl-C or SIGTERM (status 0) or a dead child (status 1)."""
    if args.instructor:  # the app processes inherit it; students cannot set it from a URL
        os.environ[INSTRUCTOR_ENV] = "1"
    classroom = Classroom(args.processes, args.port, args.address, args.backend, log_dir=args.log_dir)
    if args.log_dir is not None:  # after the layout is accepted: a refused one leaves no folder behind
        make_output_dir(args.log_dir, "--log-dir")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it like Ctrl-C
    try:
        with classroom:
            local = [str(b.port) for b in classroom.backends if not b.name.startswith("remote")]
            print(f"Serving {classroom.app.name} at {classroom.url} (listening on {args.address}:{classroom.port})")
            ports = ", ".join(local) or "-"
            print(f"  {len(local)} app process(es) here (ports {ports}), {len(classroom.remote)} remote")
            print(f"  logs and haproxy.cfg in {classroom.log_dir}; Ctrl-C stops everything", flush=True)
            while (problem := classroom.exited()) is None:
                time.sleep(1.0)
            print(f"error: {problem}", flush=True)
            classroom.stop(keep_logs=True)
            return 1
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
        return 0
    except RuntimeError as error:  # a process died or stayed unhealthy while starting
        print(f"error: {error}", flush=True)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Serve; bad input (checked before any process starts) is one ``error:`` line and status 2."""
    return run_command(build_parser(), argv, serve)


if __name__ == "__main__":
    raise SystemExit(main())

"""Serve a local model over llama.cpp's OpenAI-compatible HTTP API, on loopback only.

    python -m xpollinate.llm.local_server --model smollm2-135m-instruct --port 8088
    XP_LLM=openai:smollm2-135m-instruct OPENAI_BASE_URL=http://127.0.0.1:8088/v1 ...

Useful to share one loaded model between processes, and it is the real server the
`openai` provider's tests talk to. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading

from xpollinate.llm.model_files import LOCAL_MODELS, model_path
from xpollinate.llm.providers.llamacpp import default_threads


def serve(model_id: str, port: int, threads: int | None = None, n_ctx: int = 16384, parallel: int = 4) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path(model_id))
    params.model_alias = {model_id}
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = parallel  # slots decoding together, sharing one KV cache, as the in-process provider
    params.kv_unified = True
    params.cpuparams.n_threads = threads or default_threads()
    params.cpuparams_batch.n_threads = threads or default_threads()
    params.verbosity = 0
    params.warmup = False
    server = xllamacpp.Server(params)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"serving {model_id} at {server.listening_address}/v1", flush=True)
    stop.wait()
    del server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", choices=sorted(LOCAL_MODELS))
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--n-ctx", type=int, default=16384)
    parser.add_argument("--parallel", type=int, default=4, help="slots: requests decoded together")
    args = parser.parse_args()
    serve(args.model, args.port, args.threads, args.n_ctx, args.parallel)


if __name__ == "__main__":
    main()

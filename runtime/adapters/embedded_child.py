"""The embedded model's own process: llama.cpp's server (xllamacpp) on a Unix socket.

`python -m runtime.adapters.embedded_child --model GGUF --socket PATH ...` is started by the server's
`ModelProcess`, never by hand. It lives apart from the server so that a crash inside llama.cpp
(a bad instruction, a fault, the OOM killer) takes only this process down. It listens on a Unix
socket inside the data directory, not on a port another local user could reach, prints `ready`
on stdout once the model is loaded, and exits as soon as its parent goes away (`runtime.children`).
"""

import argparse
import os
import threading

from runtime.children import die_with_parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runtime.adapters.embedded_child")
    parser.add_argument("--model", required=True, help="the GGUF file")
    parser.add_argument("--socket", required=True, help="the Unix socket to serve on")
    parser.add_argument("--parent", type=int, required=True, help="the server's pid")
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    die_with_parent(args.parent)

    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # llama.cpp's own output goes to the log, never into the pipe nobody reads
    # Threads that wait for each other spin only briefly before they sleep: spinning forever burns
    # the time slice a partner needs on a busy machine (generation slowed ten-fold here), sleeping
    # at once cost a quarter of the pace on idle cores.
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "20000")
    import xllamacpp  # after the parent watch: loading the model takes seconds

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.n_ctx = args.ctx
    params.n_parallel = 1  # one conversation at a time: two cores gain nothing from batching
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = [args.socket]
    params.ui = False
    params.endpoint_slots = False
    params.warmup = False  # the first real prompt warms it up as well, without a wasted decode
    # The memory counts at the end of the previous prompt are dropped from the cache, and what
    # followed them (the model's own reply) is shifted into place instead of evaluated again.
    params.n_cache_reuse = 16
    params.cache_ram_mib = 1024  # prompts of other agents kept in RAM, restored when they come back
    params.verbosity = 2  # warnings and errors
    server = xllamacpp.Server(params)  # serves on its own threads while this one waits
    ready.write(f"ready {server.listening_address}\n")
    ready.flush()
    threading.Event().wait()


if __name__ == "__main__":
    main()

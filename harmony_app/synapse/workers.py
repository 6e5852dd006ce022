"""A Synapse worker process beside a ``LocalSynapse`` started with a ``WorkerLayout`` (PostgreSQL, Redis):
the production shape in miniature, for the tests of appservice mode on Synapse with workers.

The worker reads the main process's two config files plus its own (``worker_app``, ``worker_name``, a
loopback listener for its health check, its own log file); the main process's ``instance_map`` and Redis
settings tell it where the main process is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import aiohttp

from harmony_app.synapse.config import BASE_CONFIG_NAME, LOOPBACK, OVERRIDES_NAME
from harmony_app.synapse.errors import SynapseError
from harmony_app.synapse.server import LocalSynapse, _die_with_parent, pick_free_ports, terminate


class SynapseWorker:
    """One ``synapse.app.generic_worker`` named ``name`` for ``main`` (which must have a ``WorkerLayout``)."""

    def __init__(self, main: LocalSynapse, name: str) -> None:
        if main.workers is None:
            raise ValueError(f"{main!r} was not started with a WorkerLayout")
        self.main = main
        self.name = name
        (self.port,) = pick_free_ports(1)
        self.config_path = main.data_dir / f"worker-{name}.yaml"
        self.log_path = main.data_dir / f"worker-{name}.log"
        self._process: asyncio.subprocess.Process | None = None
        self._console: Any = None

    def _config(self) -> dict[str, Any]:
        log_config = self.main.data_dir / f"worker-{self.name}.log.config"
        log_config.write_text(json.dumps({
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s - %(name)s - %(levelname)s - %(message)s"}},
            "handlers": {"file": {"class": "logging.FileHandler", "formatter": "precise",
                                  "filename": str(self.log_path), "encoding": "utf8"}},
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }))
        return {
            "worker_app": "synapse.app.generic_worker",
            "worker_name": self.name,
            "worker_listeners": [{"type": "http", "port": self.port, "bind_addresses": [LOOPBACK],
                                  "resources": [{"names": ["client"]}]}],
            "worker_log_config": str(log_config),
            "pid_file": str(self.main.data_dir / f"worker-{self.name}.pid"),
        }

    async def start(self, *, timeout: float = 60.0) -> None:
        """Start the worker and wait until its ``/health`` answers OK."""
        self.config_path.write_text(json.dumps(self._config(), indent=2))
        data = self.main.data_dir
        self._console = open(data / f"worker-{self.name}.console.log", "ab")  # noqa: SIM115 -- closed in stop()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "synapse.app.generic_worker", "-c", str(data / BASE_CONFIG_NAME),
            "-c", str(data / OVERRIDES_NAME), "-c", str(self.config_path), cwd=data,
            stdin=asyncio.subprocess.DEVNULL, stdout=self._console, stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self._process.returncode is not None:
                    raise SynapseError(f"worker {self.name} exited with code {self._process.returncode}:\n"
                                       + self._tail())
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(f"http://{LOOPBACK}:{self.port}/health",
                                        timeout=aiohttp.ClientTimeout(total=2)) as response:
                        if response.status == 200:
                            return
                if time.monotonic() >= deadline:
                    await self.stop()
                    raise SynapseError(f"worker {self.name} did not become healthy:\n" + self._tail())
                await asyncio.sleep(0.1)

    async def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        process, self._process = self._process, None
        await terminate(process, timeout=timeout, name=f"worker {self.name}")
        if self._console is not None:
            self._console.close()
            self._console = None

    def _tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.main.data_dir / f"worker-{self.name}.console.log", self.log_path):
            if path.exists():
                parts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(parts)

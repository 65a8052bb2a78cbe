"""Password hashing: argon2id, bounded in threads (from the CPU quota) and in queue."""

import asyncio
import os
import threading
from asyncio import run

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from auth_service import passwords as module
from auth_service.exceptions import HashingBusy
from auth_service.passwords import Passwords, usable_cpus


@pytest.fixture
def passwords():
    passwords = Passwords(threads=2, queue=2)
    yield passwords
    passwords.close()


class TestHashing:
    def test_hash_is_argon2id_and_verifies(self, passwords):
        password_hash = run(passwords.hash("correct horse"))
        assert password_hash.startswith("$argon2id$")
        assert run(passwords.verify("correct horse", password_hash))[0]
        assert not run(passwords.verify("wrong horse", password_hash))[0]

    def test_unknown_user_still_costs_one_hash_verification(self, passwords, monkeypatch):
        calls = []
        real_verify = module.password_hasher.verify

        def counting_verify(*args):
            calls.append(args)
            return real_verify(*args)

        monkeypatch.setattr(module.password_hasher, "verify", counting_verify)
        assert run(passwords.verify("whatever", None)) == (False, None)
        assert len(calls) == 1

    def test_outdated_parameters_are_rehashed(self, passwords):
        weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),)).hash("pw-123456")
        valid, rehash = run(passwords.verify("pw-123456", weak))
        assert valid and rehash and "m=19456,t=2" in rehash


class TestBounds:
    def test_threads_plus_queue_are_admitted_and_the_next_is_refused_at_once(self, monkeypatch):
        release, running, peak = threading.Event(), [], [0]
        lock = threading.Lock()

        def blocked_hash(password: str) -> str:
            with lock:
                running.append(password)
                peak[0] = max(peak[0], len(running))
            release.wait(timeout=10)
            with lock:
                running.remove(password)
            return f"hash of {password}"

        monkeypatch.setattr(module.password_hasher, "hash", blocked_hash)
        passwords = Passwords(threads=1, queue=2)

        async def scenario() -> list[object]:
            admitted = [asyncio.create_task(passwords.hash(f"pw-{n}")) for n in range(3)]
            await asyncio.sleep(0)  # let the three take their places
            with pytest.raises(HashingBusy) as refused:
                await passwords.hash("one too many")
            assert refused.value.headers["Retry-After"] == "1" and refused.value.status_code == 503
            release.set()
            return list(await asyncio.gather(*admitted))

        try:
            assert run(scenario()) == ["hash of pw-0", "hash of pw-1", "hash of pw-2"]
        finally:
            release.set()
            passwords.close()
        assert peak[0] == 1


class TestUsableCpus:
    def test_a_cgroup_v2_quota_of_one_cpu_is_one_thread(self, tmp_path):
        (tmp_path / "cpu.max").write_text("100000 100000\n")
        assert usable_cpus(tmp_path) == 1

    def test_a_fractional_quota_rounds_up(self, tmp_path):
        (tmp_path / "cpu.max").write_text("150000 100000\n")
        assert usable_cpus(tmp_path) == min(2, usable_cpus(tmp_path / "none"))

    def test_no_quota_is_the_cpus_this_process_may_use(self, tmp_path):
        (tmp_path / "cpu.max").write_text("max 100000\n")
        assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))

    def test_a_cgroup_v1_quota(self, tmp_path):
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
        assert usable_cpus(tmp_path) == 1

    def test_no_cgroup_files_at_all(self, tmp_path):
        assert usable_cpus(tmp_path) >= 1

#!/usr/bin/env bash
# After pytest died (e.g. a C extension aborted): name the test that was running and show
# the start of the crash record that tests/conftest.py keeps (every thread's Python stack).
cd "$(dirname "$0")/.."
if [ -s out/pytest-current.txt ]; then
  echo "=== pytest died during: $(cat out/pytest-current.txt)" >&2
fi
if [ -s out/pytest-crash.txt ]; then
  echo "=== crash record (out/pytest-crash.txt), first 80 lines:" >&2
  grep -v '^  File ".*/site-packages/' out/pytest-crash.txt | head -80 >&2
fi

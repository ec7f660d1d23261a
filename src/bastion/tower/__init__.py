"""The watchtower service: ingest and detection (``bastion.watch``) wired to response (``bastion.respond``).

It sits above both, so ``watch`` never imports ``respond``: `service` is the loop, `runner` starts it in a
background thread (demo, benchmarks), `commands` is ``bastion watch``.
"""

"""Governance: who owns and who approves each model, and the promotion requests between them.

- :mod:`.policy`: ``conf/governance.yaml`` (strict schema), users and ``@groups`` resolved
  through the system's group database;
- :mod:`.requests`: promotion requests and decisions, a Delta table with an audit row per
  action.

Imports nothing, so importing a submodule pulls in only what it needs.
"""

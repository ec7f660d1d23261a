"""Responders: playbooks (finding -> actions), the relayer (sign, send, replace, confirm), notifiers."""

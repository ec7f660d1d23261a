"""Exploit rehearsal: attack and benign scenarios against the reference protocol and its vulnerable
variants, run on a fresh embedded chain with the defences off and on (``bastion rehearse``)."""

"""The reference perpetual-futures protocol: deployment and a client over its manifest."""

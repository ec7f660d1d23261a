"""The watchtower: ingest, the normalized event shape, detectors, incidents and the service loop."""

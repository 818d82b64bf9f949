"""What the recorders (InfluxPublisher, FileRecorder) share: the intake of recorded feeds."""

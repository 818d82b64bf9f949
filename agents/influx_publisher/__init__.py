"""InfluxPublisher: every recorded feed of the site, written to InfluxDB 1.x."""
